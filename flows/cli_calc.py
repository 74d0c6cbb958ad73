"""`gauss calc …`: run one calculator on ligands given on the command line or in a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Calculators: proxy labels, complex assembly, KD gaps (embedded by default).",
    no_args_is_help=True,
)

InFile = Annotated[
    Path | None, typer.Option("--in", help="CSV or Parquet with a `smiles` column (batch mode)")
]
OutFile = Annotated[Path | None, typer.Option("--out", help="Parquet to write (batch mode)")]
Workers = Annotated[int, typer.Option(help="worker processes")]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _read_smiles(path: Path) -> list[str]:
    import pandas as pd

    if not path.is_file():
        _fail(f"input file not found: {path}")
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader error is reported with the path
        _fail(f"cannot read {path}: {exc}")
    if "smiles" not in df.columns:
        _fail(f"{path} has no `smiles` column (columns: {list(df.columns)})")
    return df["smiles"].astype(str).tolist()


def _run(calc, smiles: list[str], in_file, out_file, workers: int, value_names) -> None:
    """Batch mode writes a Parquet table (failed rows keep their place); else print JSON."""
    import pandas as pd

    from calculators import batch
    from gauss import chem

    if in_file is not None:
        if out_file is None:
            _fail("--in needs --out")
        rows = batch.run_many(calc, _read_smiles(in_file), workers, True, value_names)
        out_file.parent.mkdir(parents=True, exist_ok=True)
        table = pd.DataFrame(rows)
        table.to_parquet(out_file, index=False)
        ok = int((table["status"] == "ok").sum())
        typer.echo(f"wrote {len(table)} rows ({ok} ok) to {out_file} [{calc.method}]")
        return
    if not smiles:
        _fail("give SMILES arguments or --in FILE --out FILE")
    for smi in smiles:
        try:
            chem.ligand(smi)
        except chem.LigandError as exc:
            _fail(str(exc))
    rows = batch.run_many(calc, smiles, workers, False, value_names)
    for row in rows:
        typer.echo(json.dumps(row, default=float))


@app.command("proxy")
def proxy_cmd(
    smiles: Annotated[list[str] | None, typer.Argument(help="donor-first ligand SMILES")] = None,
    in_file: InFile = None,
    out_file: OutFile = None,
    workers: Workers = 2,
) -> None:
    """Proxy labels of the coordinating atom: charge, dipole, polarizability (GFN2-xTB + D4)."""
    from calculators.proxy_xtb import UNITS, XtbProxyCalculator

    _run(XtbProxyCalculator(), smiles or [], in_file, out_file, workers, tuple(UNITS))


@app.command("kd")
def kd_cmd(
    smiles: Annotated[list[str] | None, typer.Argument(help="donor-first ligand SMILES")] = None,
    in_file: InFile = None,
    out_file: OutFile = None,
    relax: Annotated[bool, typer.Option(help="GFN2-xTB/ALPB relaxation first (~8 s)")] = False,
    workers: Workers = 2,
) -> None:
    """KD gaps gap_1..gap_7 (cm-1) of [Dy(H2O)5L2] from the embedded crystal-field chain."""
    from calculators.kd_embedded import UNITS, EmbeddedKD

    names = tuple(k for k in UNITS if k.startswith("gap_"))
    _run(EmbeddedKD(relax=relax), smiles or [], in_file, out_file, workers, names)


@app.command("assemble")
def assemble_cmd(
    smiles: Annotated[str, typer.Argument(help="donor-first ligand SMILES")],
    metal: Annotated[str, typer.Option(help="Dy, or Y (the paper's DFT analogue)")] = "Dy",
    relax: Annotated[bool, typer.Option(help="GFN2-xTB/ALPB relaxation")] = False,
    out: Annotated[Path | None, typer.Option(help="XYZ file to write (else stdout)")] = None,
) -> None:
    """Build [M(H2O)5L2] (pentagonal bipyramid, L axial) and print XYZ + structural features."""
    from calculators import assembly
    from calculators.base import CalculationFailed
    from gauss import chem

    if metal not in assembly.METAL_MULTIPLICITY:
        _fail(f"unknown metal {metal!r}; use one of {sorted(assembly.METAL_MULTIPLICITY)}")
    try:
        cx = assembly.assemble(smiles, metal)
        if relax:
            cx = assembly.relax(cx)
    except (chem.LigandError, CalculationFailed) as exc:
        _fail(str(exc))
    if out:
        cx.write_xyz(out)
        typer.echo(f"wrote {out}")
    else:
        typer.echo(cx.to_xyz(), nl=False)
    typer.echo(json.dumps(cx.features()), err=True)
