"""prefect.yaml against a real `prefect server`: deploy, run launch-campaign through a worker."""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from storage.store import CampaignStore
from tests.conftest import QM9_LIGANDS_SAMPLE, REPO, SHIPPED_MODEL

BIN = os.path.dirname(sys.executable)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"Prefect server at {url} did not become healthy")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real Prefect server on 127.0.0.1 (own PREFECT_HOME), stopped with its process group."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(
        os.environ,
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PATH=f"{BIN}:{os.environ['PATH']}",
    )
    proc = subprocess.Popen(
        [f"{BIN}/gauss", "server", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_healthy(api)
        yield env
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT the process group (graceful shutdown), SIGKILL it if that takes over 20 s."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _prefect(env, *args, timeout=180):
    res = subprocess.run(
        [f"{BIN}/prefect", "--no-prompt", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return res.stdout


@pytest.mark.integration
def test_deploy_all_and_launch_campaign_from_the_deployment(server, tmp_path):
    env = dict(
        server,
        GAUSS_STORE=str(tmp_path / "store"),
        GAUSS_EXECUTOR="process",
        GAUSS_WORKERS="2",
        PREFECT_WORKER_QUERY_SECONDS="2",
        OMP_NUM_THREADS="1",
    )
    _prefect(env, "work-pool", "create", "gauss-local", "--type", "process")
    out = _prefect(env, "deploy", "--all")
    assert "launch-campaign" in out and "launch-trial" in out and "scheduled-round" in out

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    spec = {
        "name": "uitest",
        "corpus": str(QM9_LIGANDS_SAMPLE),
        "model": str(SHIPPED_MODEL),
        "initial_size": 10,
        "seeds_per_round": 2,
        "sampling": {
            "samples_per_seed": 2,
            "sigmas": [0.3, 0.5],
            "steps_per_sigma": 4,
            "batch_per_seed": 50,
        },
    }

    async def launch():
        async with get_client() as client:
            launch = await client.read_deployment_by_name("launch-campaign/launch-campaign")
            trial = await client.read_deployment_by_name("launch-campaign/launch-trial")
            sched = await client.read_deployment_by_name("run-round/scheduled-round")
            schema = launch.parameter_openapi_schema
            assert list(schema["properties"]) == ["spec", "rounds_to_run"]  # one profile field
            assert all(p.get("description") for p in schema["properties"].values())
            spec_props = schema["definitions"]["CampaignSpec"]["properties"]
            assert all(p.get("description") for p in spec_props.values()), "undocumented field"
            assert spec_props["name"]["pattern"].startswith("^[a-z0-9]")  # checked by the form
            assert not str(spec_props["model"]["default"]).startswith("/")  # no machine paths
            assert trial.parameters["spec"]["initial_set"] == "published"
            assert sched.schedules and sched.schedules[0].schedule.cron == "0 */6 * * *"
            run = await client.create_flow_run_from_deployment(
                launch.id, parameters={"spec": spec, "rounds_to_run": 2}
            )
            return run.id

    async def state(run_id):
        async with get_client() as client:
            return (await client.read_flow_run(run_id)).state

    with temporary_settings({PREFECT_API_URL: server["PREFECT_API_URL"]}):
        run_id = asyncio.run(launch())
        worker = subprocess.Popen(
            [f"{BIN}/prefect", "worker", "start", "--pool", "gauss-local"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.time() + 400
            final = None
            while time.time() < deadline:
                final = asyncio.run(state(run_id))
                if final and final.is_final():
                    break
                time.sleep(2)
        finally:
            _stop(worker)
    assert final is not None and final.is_completed(), final
    store = CampaignStore(tmp_path / "store", "uitest")
    assert [r.round for r in store.rounds()] == [0, 1, 2]
    with temporary_settings({PREFECT_API_URL: server["PREFECT_API_URL"]}):
        launch_id = asyncio.run(_deployment_id("launch-campaign/launch-campaign"))
    _check_ui(server["PREFECT_API_URL"].removesuffix("/api"), run_id, launch_id)


async def _deployment_id(name: str):
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return (await client.read_deployment_by_name(name)).id


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _check_ui(ui: str, run_id, deployment_id) -> None:
    """A real headless Chromium shows the run's artifacts and the spec form of the deployment."""
    from playwright.sync_api import sync_playwright

    shots = REPO / "test-artifacts"
    shots.mkdir(exist_ok=True)
    assert os.path.exists("/usr/bin/chromium"), "install Debian's chromium (.ci/run does)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            # the UI calls an outside analytics host even with analytics off: keep it local
            context.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda r: r.abort())
            page = context.new_page()
            # the launched run shows the whole campaign: round 0's artifacts and one campaign
            # artifact with every round (rounds >= 1 also keep theirs on their sub-flow runs)
            page.goto(f"{ui}/runs/flow-run/{run_id}")
            page.get_by_text("Artifacts", exact=True).first.click()
            try:
                page.get_by_text("uitest-round-0").first.wait_for(timeout=60_000)
                page.get_by_text("uitest-campaign").first.click()
                page.get_by_text("Campaign uitest: 3 committed rounds").first.wait_for(
                    timeout=60_000
                )
                page.get_by_text("median_gap_1 (cm-1)").first.wait_for(timeout=10_000)
            finally:
                page.screenshot(path=str(shots / "flow-run-artifacts.png"), full_page=True)
            page.goto(f"{ui}/deployments/deployment/{deployment_id}/run")
            try:  # the spec renders as a form, with the field descriptions of CampaignSpec
                page.get_by_text("seeds chosen per round (paper: 16)").first.wait_for(
                    timeout=60_000
                )
            finally:
                page.screenshot(path=str(shots / "launch-campaign-form.png"), full_page=True)
        finally:
            browser.close()
