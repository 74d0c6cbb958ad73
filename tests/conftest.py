import gzip
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


QM9_LIGANDS_SAMPLE = REPO / "tests" / "fixtures" / "ligands_sample.parquet"
SHIPPED_MODEL = REPO / "models" / "gauss2-proxy" / "model.pt"
