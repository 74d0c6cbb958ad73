import gzip
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QM9 = REPO / "data" / "qm9" / "qm9pack_smiles.csv.gz"


@pytest.fixture(scope="session")
def qm9_head(tmp_path_factory) -> Path:
    """The first 600 real QM9 rows, as a small source file."""
    path = tmp_path_factory.mktemp("qm9") / "head.csv.gz"
    with gzip.open(QM9, "rt") as src, gzip.open(path, "wt") as dst:
        for i, line in enumerate(src):
            if i > 600:
                break
            dst.write(line)
    return path


# Test folders are the tiers; every test in a folder carries its tier's markers, so folders and
# `-m` selections agree (README, "Tests"). Unit tests (tests/unit/) carry none, or `slow`.
TIER_MARKERS = {
    "integration": ("integration",),
    "cluster": ("cluster", "integration"),
    "programs": ("molcas",),
}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.parent.name
        for marker in TIER_MARKERS.get(tier, ()):
            item.add_marker(marker)


FIXTURES = REPO / "tests" / "fixtures"  # stored files; each folder's README says where from
QM9_LIGANDS_SAMPLE = FIXTURES / "ligands_sample.parquet"
SHIPPED_MODEL = REPO / "models" / "gauss2-calibrated" / "model.pt"


SLURM_LOCAL = REPO / "scripts" / "slurm-local"


@pytest.fixture(scope="module")
def slurm():
    """A real single-node Slurm for the module's tests (cluster tier); stopped afterwards."""
    if os.geteuid() != 0:
        pytest.skip("bringing Slurm up needs root (CI and the dev machines run as root)")
    up = subprocess.run([str(SLURM_LOCAL), "up"], capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    try:
        yield
    finally:
        subprocess.run([str(SLURM_LOCAL), "down"], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def prefect_api():
    """A temporary Prefect API for the module's flow runs (prefect_test_harness); its URL."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        from prefect.settings import PREFECT_API_URL

        yield PREFECT_API_URL.value()
