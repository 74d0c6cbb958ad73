"""The `gauss` entry point as a user runs it (a real subprocess of the installed script)."""

import shutil
import subprocess

import pandas as pd


def run(*args, **kw):
    exe = shutil.which("gauss")
    assert exe, "the gauss entry point is not on PATH (scripts/test puts .venv/bin there)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300, **kw)


def test_help_explains_each_verb():
    top = run("--help")
    assert top.returncode == 0
    assert "corpus" in top.stdout
    sub = run("corpus", "--help")
    assert "build" in sub.stdout and "info" in sub.stdout
    assert "donor-first" in run("corpus", "build", "--help").stdout


def test_corpus_build_then_skip_then_info(qm9_head, tmp_path):
    out = tmp_path / "lig.parquet"
    first = run("corpus", "build", "--source", str(qm9_head), "--out", str(out), "--workers", "1")
    assert first.returncode == 0, first.stderr
    assert "wrote" in first.stdout
    assert len(pd.read_parquet(out)) > 0
    again = run("corpus", "build", "--source", str(qm9_head), "--out", str(out))
    assert "up to date" in again.stdout
    info = run("corpus", "info", str(out))
    assert info.returncode == 0 and '"rows"' in info.stdout


def test_corpus_build_bad_source_is_a_clear_error(tmp_path):
    res = run(
        "corpus",
        "build",
        "--source",
        str(tmp_path / "missing.csv"),
        "--out",
        str(tmp_path / "x.parquet"),
    )
    assert res.returncode == 3
    assert "missing.csv" in res.stderr and "Traceback" not in res.stderr


def _spec_file(tmp_path, **extra):
    import yaml

    from tests.conftest import QM9_LIGANDS_SAMPLE

    doc = {"name": "initcli", "corpus": str(QM9_LIGANDS_SAMPLE), "initial_size": 4, **extra}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_campaign_init_refuses_a_profile_without_settings_before_computing(tmp_path):
    """init uses the spec's execution profile like `run`: on slurm without profile settings it
    stops with the reason before any calculation, and stores nothing."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "GAUSS_PROFILES"}
    env["GAUSS_STORE"] = str(tmp_path / "store")
    res = run("campaign", "init", str(_spec_file(tmp_path, profile="slurm")), env=env)
    assert res.returncode != 0
    assert "'slurm' needs its settings" in res.stderr
    assert not (tmp_path / "store" / "initcli").exists()


def test_campaign_init_takes_the_corpus_from_gauss_corpus_when_the_spec_names_none(
    tmp_path, monkeypatch
):
    """GAUSS_CORPUS is the operator's corpus for specs that name none; the stored spec records
    it, and a spec that names a corpus keeps its own."""
    import os

    from flows.settings import Settings, with_path_defaults
    from storage.store import CampaignStore
    from tests.conftest import QM9_LIGANDS_SAMPLE

    path = _spec_file(tmp_path, seeds_per_round=2)
    doc = path.read_text().replace(f"corpus: {QM9_LIGANDS_SAMPLE}\n", "")
    assert "corpus" not in doc
    path.write_text(doc)
    env = dict(os.environ, GAUSS_STORE=str(tmp_path / "store"), GAUSS_EXECUTOR="process")
    env |= {"GAUSS_WORKERS": "1", "GAUSS_CORPUS": str(QM9_LIGANDS_SAMPLE)}
    res = run("campaign", "init", str(path), env=env)
    assert res.returncode == 0, res.stderr
    assert CampaignStore(tmp_path / "store", "initcli").spec()["corpus"] == str(QM9_LIGANDS_SAMPLE)

    from campaigns.spec import DEFAULT_CORPUS, DEFAULT_MODEL, parse_spec

    monkeypatch.delenv("GAUSS_CORPUS", raising=False)
    monkeypatch.delenv("GAUSS_MODEL", raising=False)
    bare = with_path_defaults(parse_spec({"name": "x"}), Settings(store=tmp_path))
    assert (bare.corpus, bare.model) == (DEFAULT_CORPUS, DEFAULT_MODEL)
    named = parse_spec({"name": "x", "corpus": "mine.parquet"})
    chosen = Settings(corpus=tmp_path / "c.parquet", model=tmp_path / "m.pt")
    assert with_path_defaults(named, chosen).corpus == named.corpus
    assert with_path_defaults(named, chosen).model == tmp_path / "m.pt"
