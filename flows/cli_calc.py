"""`gauss calc …`: run one calculator on ligands given on the command line or in a file."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from calculators import values
from flows.cli_errors import ExitCode, fail, usage

app = typer.Typer(
    help="Calculators: proxy labels, complex assembly, KD gaps (embedded by default).",
    no_args_is_help=True,
)

InFile = Annotated[
    Path | None, typer.Option("--in", help="CSV or Parquet with a `smiles` column (batch mode)")
]
OutFile = Annotated[Path | None, typer.Option("--out", help="Parquet to write (batch mode)")]
Workers = Annotated[int, typer.Option(help="worker processes")]


def _read_smiles(path: Path) -> list[str]:
    import pandas as pd

    if not path.is_file():
        fail(f"input file not found: {path}")
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader error is reported with the path
        fail(f"cannot read {path}: {exc}")
    if "smiles" not in df.columns:
        fail(f"{path} has no `smiles` column (columns: {list(df.columns)})")
    return df["smiles"].astype(str).tolist()


def _run(calc, smiles: list[str], in_file, out_file, workers: int, value_names) -> None:
    """Batch mode writes a Parquet table (failed rows keep their place, exit 0); with SMILES
    arguments it prints one JSON row each and exits 4 when a calculation failed."""
    import pandas as pd

    from calculators import batch
    from gauss import chem

    if in_file is not None:
        if out_file is None:
            usage("--in needs --out")
        if not out_file.parent.is_dir():
            fail(f"output directory {out_file.parent} does not exist (create it first)")
        rows = batch.run_many(calc, _read_smiles(in_file), workers, True, value_names)
        table = pd.DataFrame(rows)
        table.to_parquet(out_file, index=False)
        ok = int((table["status"] == "ok").sum())
        typer.echo(f"wrote {len(table)} rows ({ok} ok) to {out_file} [{calc.method}]")
        return
    if not smiles:
        usage("give SMILES arguments or --in FILE --out FILE")
    for smi in smiles:
        try:
            chem.ligand(smi)
        except chem.LigandError as exc:
            fail(str(exc))
    rows = batch.run_many(calc, smiles, workers, False, value_names)
    for row in rows:
        typer.echo(json.dumps(row, default=float))
    failed = [row for row in rows if row["status"] != "ok"]
    if failed:
        fail(
            f"{len(failed)} of {len(rows)} calculations failed: {failed[0]['reason']}",
            ExitCode.CALCULATION_FAILED,
        )


class ProxyMethod(StrEnum):
    calibrated = "calibrated"
    xtb = "xtb"
    loprop = "loprop"


class MolcasSettings(StrEnum):
    production = "production"
    test = "test"


class KDMethod(StrEnum):
    embedded = "embedded"
    point_charge = "point-charge"
    molcas = "molcas"
    orca = "orca"


PROXY_COLUMNS = values.PROXY_VALUES
GAP_COLUMNS = values.GAPS
GAP_STD_COLUMNS = tuple(f"{g}_std" for g in values.GAPS)  # calibrated embedded KD: 1 sigma


def proxy_calculator(method: ProxyMethod):
    """The proxy calculator of a --method choice (one place for the CLI and the flows)."""
    if method == ProxyMethod.calibrated:
        from calculators.proxy_calibrated import CalibratedProxy

        return CalibratedProxy()
    if method == ProxyMethod.xtb:
        from calculators.proxy_xtb import XtbProxyCalculator

        return XtbProxyCalculator()
    from calculators.proxy_molcas import MolcasProxy

    return MolcasProxy()


@app.command("proxy")
def proxy_cmd(
    smiles: Annotated[list[str] | None, typer.Argument(help="donor-first ligand SMILES")] = None,
    in_file: InFile = None,
    out_file: OutFile = None,
    method: Annotated[
        ProxyMethod,
        typer.Option(
            help="calibrated: GFN2-xTB/D4 descriptors calibrated to published OpenMolcas "
            "PBE/ANO-R2 LoProp (default); xtb: raw GFN2-xTB/D4 numbers (not LoProp scale); "
            "loprop: OpenMolcas PBE/ANO-R2 + LoProp for real (minutes per ligand)"
        ),
    ] = ProxyMethod.calibrated,
    workers: Workers = 2,
) -> None:
    """Proxy labels of the coordinating atom: charge (e), dipole (a.u.), polarizability (a.u.)."""
    _run(proxy_calculator(method), smiles or [], in_file, out_file, workers, PROXY_COLUMNS)


@app.command("kd")
def kd_cmd(
    smiles: Annotated[list[str] | None, typer.Argument(help="donor-first ligand SMILES")] = None,
    in_file: InFile = None,
    out_file: OutFile = None,
    method: Annotated[
        KDMethod,
        typer.Option(
            help="embedded: crystal field on a DFT-like geometry + correction calibrated on "
            "published CASSCF, with gap_i_std (default, ~0.6 s); point-charge: the plain "
            "crystal field; "
            "molcas: OpenMolcas CASSCF(9,7)/RASSI-SO for real; orca: the paper's ORCA chain"
        ),
    ] = KDMethod.embedded,
    xyz: Annotated[
        Path | None, typer.Option(help="molcas: KD energies of this geometry (XYZ, with Dy)")
    ] = None,
    charge: Annotated[int | None, typer.Option(help="net charge of the --xyz complex")] = None,
    relax: Annotated[
        bool, typer.Option(help="point-charge: GFN2-xTB/ALPB relaxation first (~8 s)")
    ] = False,
    molcas_settings: Annotated[
        MolcasSettings,
        typer.Option(help="molcas: production (~11 min per complex) or test (ANO-RCC-MB, ~1 min)"),
    ] = MolcasSettings.production,
    workers: Workers = 2,
) -> None:
    """KD gaps gap_1..gap_7 (cm-1) of [Dy(H2O)5L2]+, or the KD energies of a given geometry."""
    if xyz is not None:
        _kd_of_geometry(method, xyz, charge, molcas_settings)
        return
    if charge is not None:
        usage("--charge goes with --xyz")
    if relax and method != KDMethod.point_charge:
        usage("--relax goes with --method point-charge (the calibrated model has its own geometry)")
    names = GAP_COLUMNS + GAP_STD_COLUMNS if method == KDMethod.embedded else GAP_COLUMNS
    calc = kd_calculator(method, relax, molcas_settings)
    _run(calc, smiles or [], in_file, out_file, workers, names)


def kd_calculator(
    method: KDMethod,
    relax: bool = False,
    molcas_settings: MolcasSettings = MolcasSettings.production,
):
    """The KD calculator of a --method choice, run locally (programs from the settings)."""
    if method in (KDMethod.embedded, KDMethod.point_charge):
        from calculators.kd_embedded import EmbeddedKD

        model = "calibrated" if method == KDMethod.embedded else "point-charge"
        return EmbeddedKD(relax=relax, model=model)
    from calculators.base import SubprocessLauncher
    from flows.settings import get_settings

    launcher = SubprocessLauncher(get_settings().programs)
    if method == KDMethod.molcas:
        from calculators.kd_molcas import MolcasKD
        from calculators.openmolcas.casscf import TEST_SETTINGS, CasscfSettings

        test = molcas_settings == MolcasSettings.test
        return MolcasKD(settings=TEST_SETTINGS if test else CasscfSettings(), launcher=launcher)
    from calculators.orca.chain import OrcaKD

    return OrcaKD(launcher=launcher)


def _kd_of_geometry(
    method: KDMethod, xyz: Path, charge: int | None, molcas_settings: MolcasSettings
) -> None:
    """One JSON object: kd_energies (8, cm-1, ground 0), gap_1..gap_7, g_ground (3 values)."""
    if method != KDMethod.molcas:
        usage("--xyz needs --method molcas")
    if charge is None:
        usage("--xyz needs --charge (net charge of the complex)")
    if not xyz.is_file():
        fail(f"XYZ file not found: {xyz}")
    from calculators.base import CalculationFailed
    from calculators.kd_molcas import read_xyz

    calc = kd_calculator(method, molcas_settings=molcas_settings)
    try:
        symbols, positions = read_xyz(xyz)
        result = calc.run_geometry(symbols, positions, charge)
    except CalculationFailed as exc:  # the reason names the file and the bad value
        fail(exc.reason)
    if not result.ok:
        fail(
            f"{xyz}: {result.reason} (work directory kept: {result.workdir})",
            ExitCode.CALCULATION_FAILED,
        )
    out = {k: result.values[k] for k in ("kd_energies", *GAP_COLUMNS, "g_ground")}
    out |= {"method": result.method, "program_versions": result.program_versions}
    out |= {"units": {"kd_energies": "cm-1", "gap_i": "cm-1", "g_ground": "1"}}
    typer.echo(json.dumps(out, default=float))


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
        fail(f"unknown metal {metal!r}; use one of {sorted(assembly.METAL_MULTIPLICITY)}")
    try:
        cx = assembly.assemble(smiles, metal)
        if relax:
            cx = assembly.relax(cx)
    except (chem.LigandError, CalculationFailed) as exc:
        fail(str(exc))
    if out:
        cx.write_xyz(out)
        typer.echo(f"wrote {out}")
    else:
        typer.echo(cx.to_xyz(), nl=False)
    typer.echo(json.dumps(cx.features()), err=True)
