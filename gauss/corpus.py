"""The ligand corpus: every way a QM9 molecule (or its mono-anion) can bind a metal through N or O.

Built once from QM9 and read by every later stage: model training, novelty checks in LP
sampling, and the random initial labelled set of a campaign. The table is deterministic
(byte-identical across builds and worker counts) so its hash can version a campaign's inputs.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import rdkit
from rdkit import Chem
from tqdm import tqdm

from gauss import chem

BUILDER_VERSION = "1"
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT / "data" / "qm9" / "qm9pack_smiles.csv.gz"
DEFAULT_OUT = REPO_ROOT / "data" / "ligands.parquet"
REQUIRED_COLUMNS = ("index", "smiles")
_CHUNK = 2000

SCHEMA = pa.schema(
    [
        ("smiles", pa.string()),
        ("canonical_smiles", pa.string()),
        ("donor", pa.string()),
        ("charge", pa.int8()),
        ("donor_charge", pa.int8()),
        ("heavy_atoms", pa.int16()),
        ("qm9_index", pa.int32()),
        ("kind", pa.string()),
        ("deprotonated", pa.string()),
        ("parent_smiles", pa.string()),
    ]
)

RULES = [
    "neutral: one row per (molecule, N/O atom with a lone pair available for a sigma bond); "
    "pyrrole-type aromatic N (lone pair in the pi sextet) and N/O without a lone pair excluded",
    "anion: remove one H+ from any N-H, O-H or C-H of a net-neutral molecule; every N/O atom "
    "that carries the negative charge in some resonance structure (RDKit ResonanceMolSupplier) "
    "becomes a coordinating atom, written in that structure, if it is the only charged atom",
    "anions formed at sp2/sp centres other than aromatic N keep the charge where it formed "
    "(sigma lone pair); azolide charge is shared by the ring N atoms",
    "stereochemistry removed; SMILES rooted at the donor (RDKit rootedAtAtom), canonical under "
    "that constraint; de-duplicated on that SMILES keeping the lowest QM9 index",
    "canonical_smiles: kekulized canonical SMILES of the written structure (paper's novelty key)",
]


class CorpusError(RuntimeError):
    """The corpus source cannot be read; the message names the file and the problem."""


@dataclass
class SourceRow:
    line: int
    index: int
    smiles: str


@dataclass
class Rejected:
    line: int
    index: str
    smiles: str
    reason: str


@dataclass
class CorpusCard:
    """What was built, from what, how: written next to the table as JSON."""

    source: str
    source_sha256: str
    source_rows: int
    molecules_used: int
    molecules_without_donor: int
    rejected_rows: int
    rejected: list[dict] = field(default_factory=list)
    rows: int = 0
    duplicates_dropped: int = 0
    counts: dict = field(default_factory=dict)
    table_sha256: str = ""
    build_seconds: float = 0.0
    workers: int = 1
    rdkit_version: str = rdkit.__version__
    builder_version: str = BUILDER_VERSION
    rules: list[str] = field(default_factory=lambda: list(RULES))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_source(path: Path) -> tuple[list[SourceRow], list[Rejected]]:
    """Read the QM9 CSV (gzipped or plain); rows that cannot be used are returned, not dropped."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"corpus source not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[SourceRow] = []
    rejected: list[Rejected] = []
    try:
        with opener(path, "rt", newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise CorpusError(
                    f"corpus source {path} lacks column(s) {missing}; found {reader.fieldnames}"
                )
            for line, rec in enumerate(reader, start=2):
                idx, smi = (rec.get("index") or "").strip(), (rec.get("smiles") or "").strip()
                if not idx.isdigit():
                    rejected.append(Rejected(line, idx, smi, f"bad index {idx!r}"))
                elif not smi:
                    rejected.append(Rejected(line, idx, smi, "empty SMILES"))
                else:
                    rows.append(SourceRow(line, int(idx), smi))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as exc:
        raise CorpusError(f"corpus source {path} is unreadable or corrupt: {exc}") from exc
    return rows, rejected


def ligand_records(row: SourceRow) -> tuple[list[dict], Rejected | None]:
    """All corpus rows of one QM9 molecule, or the reason it was rejected."""
    try:
        mol = chem.strip_stereo(chem.parse(row.smiles))
    except chem.LigandError as exc:
        return [], Rejected(row.line, str(row.index), row.smiles, str(exc))
    if len(Chem.GetMolFrags(mol)) != 1:
        return [], Rejected(row.line, str(row.index), row.smiles, "more than one fragment")
    records = []
    for lig in chem.neutral_ligands(mol):
        records.append(_record(lig, row, "neutral", ""))
    for lig, element in chem.anion_ligands(mol):
        records.append(_record(lig, row, "anion", element))
    return records, None


def _record(lig: chem.Ligand, row: SourceRow, kind: str, deprotonated: str) -> dict:
    rec = asdict(lig)
    rec.update(qm9_index=row.index, kind=kind, deprotonated=deprotonated, parent_smiles=row.smiles)
    return rec


def _process_chunk(rows: list[SourceRow]) -> tuple[list[dict], list[Rejected], int]:
    records: list[dict] = []
    rejected: list[Rejected] = []
    without_donor = 0
    for row in rows:
        recs, rej = ligand_records(row)
        if rej is not None:
            rejected.append(rej)
        elif not recs:
            without_donor += 1
        records.extend(recs)
    return records, rejected, without_donor


def _chunks(rows: list[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _run(rows: list[SourceRow], workers: int, progress: bool) -> Iterable:
    chunks = list(_chunks(rows, _CHUNK))
    bar = dict(total=len(chunks), desc="corpus", unit="chunk", disable=not progress)
    if workers <= 1:
        yield from tqdm(map(_process_chunk, chunks), **bar)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        yield from tqdm(pool.map(_process_chunk, chunks), **bar)


def build_table(
    rows: list[SourceRow], workers: int = 1, progress: bool = False
) -> tuple[pd.DataFrame, list[Rejected], int, int]:
    """Curate rows into the sorted, de-duplicated corpus table (pure apart from the pool)."""
    records: list[dict] = []
    rejected: list[Rejected] = []
    without_donor = 0
    for recs, rej, nd in _run(rows, workers, progress):
        records.extend(recs)
        rejected.extend(rej)
        without_donor += nd
    df = pd.DataFrame.from_records(records, columns=SCHEMA.names)
    df = df.sort_values(["qm9_index", "kind", "smiles"], kind="mergesort")
    before = len(df)
    df = df.drop_duplicates("smiles", keep="first").reset_index(drop=True)
    return df, rejected, without_donor, before - len(df)


def write_table(df: pd.DataFrame, out: Path) -> None:
    """Write atomically (temp file + rename) so a crash never leaves half a corpus."""
    out.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, schema=SCHEMA, preserve_index=False).replace_schema_metadata()
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, out)


def card_path(out: Path) -> Path:
    return out.with_suffix(".card.json")


def build(
    source: Path = DEFAULT_SOURCE,
    out: Path = DEFAULT_OUT,
    workers: int | None = None,
    progress: bool = True,
) -> CorpusCard:
    """Build the corpus Parquet and its dataset card; returns the card."""
    start = time.perf_counter()
    source = Path(source)
    out = Path(out)
    workers = workers or os.cpu_count() or 1
    rows, rejected = read_source(source)
    source_rows = len(rows) + len(rejected)
    df, rej, without_donor, dropped = build_table(rows, workers, progress)
    rejected += rej
    rejected.sort(key=lambda r: r.line)
    write_table(df, out)
    counts = {
        f"{donor}{charge:+d}" if charge else f"{donor}0": int(n)
        for (donor, charge), n in df.groupby(["donor", "charge"]).size().items()
    }
    counts["neutral"] = int((df["charge"] == 0).sum())
    counts["anion"] = int((df["charge"] == -1).sum())
    card = CorpusCard(
        source=str(source),
        source_sha256=file_sha256(source),
        source_rows=source_rows,
        molecules_used=int(df["qm9_index"].nunique()),
        molecules_without_donor=without_donor,
        rejected_rows=len(rejected),
        rejected=[asdict(r) for r in rejected[:200]],
        rows=len(df),
        duplicates_dropped=dropped,
        counts=counts,
        table_sha256=file_sha256(out),
        build_seconds=round(time.perf_counter() - start, 2),
        workers=workers,
    )
    card_path(out).write_text(json.dumps(asdict(card), indent=2) + "\n")
    return card


def load(path: Path = DEFAULT_OUT) -> pd.DataFrame:
    """Read the corpus, with a clear message if it has not been built yet."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"ligand corpus not found at {path}: run `gauss corpus build` first")
    return pd.read_parquet(path)


def is_current(source: Path, out: Path) -> bool:
    """True if `out` exists and its card says it was built from this source by this builder."""
    card_file = card_path(Path(out))
    if not (Path(out).is_file() and card_file.is_file() and Path(source).is_file()):
        return False
    try:
        card = json.loads(card_file.read_text())
    except (OSError, ValueError):
        return False
    return (
        card.get("source_sha256") == file_sha256(Path(source))
        and card.get("builder_version") == BUILDER_VERSION
        and card.get("rdkit_version") == rdkit.__version__
        and card.get("table_sha256") == file_sha256(Path(out))
    )


def summary(card: CorpusCard, out: Path) -> str:
    """A few human lines about a finished build."""
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(card.counts.items()))
    return (
        f"wrote {card.rows} ligands to {out} in {card.build_seconds:.1f} s "
        f"({card.workers} workers)\n"
        f"  {counts}\n"
        f"  from {card.source_rows} QM9 rows ({card.molecules_without_donor} without an N/O "
        f"donor, {card.rejected_rows} rejected, {card.duplicates_dropped} duplicates dropped)\n"
        f"  card: {card_path(out)}"
    )
