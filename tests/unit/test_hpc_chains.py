"""HPC calculators (OrcaKD, MolcasProxy) run end to end on replayed program output.

Only the launcher is replaced: it copies a stored output to the stdout path the calculator
asked for and returns a stored exit code, so templates, parsers, step bookkeeping and the
geometry checks all run for real. Fixture provenance: tests/fixtures/{orca,openmolcas}/README.md.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from calculators import kd_embedded
from calculators.base import CalculationFailed, key_for
from calculators.kd_embedded import EmbeddedKD
from calculators.orca import CasscfSocTemplate, Resources, parse_opt_output
from calculators.orca.chain import STEP_CASSCF, STEP_CONSTRAINED, STEP_FREE, OrcaKD
from calculators.proxy_molcas import MolcasProxy
from calculators.proxy_xtb import XtbProxyCalculator
from calculators.steps import MARKER
from gauss import chem
from tests.conftest import FIXTURES
from tests.doubles import Replay, ReplayLauncher

ORCA_FIX = FIXTURES / "orca"
ETHOXIDE_OPT = ORCA_FIX / "y_opt_ethoxide_synthetic.out"
CYANOFORMATE_OPT = ORCA_FIX / "y_opt_cyanoformate_synthetic.out"
DY_OK = ORCA_FIX / "dy_sextets_synthetic.out"
DY_NOCONV = ORCA_FIX / "dy_sextets_noconv.out"
# The 6H15/2 doublets written into dy_sextets_synthetic.out (see its README entry).
FIXTURE_GAPS = [152.37, 231.84, 287.91, 344.62, 402.27, 468.05, 541.73]


def orca_replay(
    opt1: Replay = ETHOXIDE_OPT,
    opt2: Replay = ETHOXIDE_OPT,
    casscf: Replay = DY_OK,
    codes: tuple[int, int, int] = (0, 0, 0),
) -> ReplayLauncher:
    """Launcher for the three ORCA steps, with each step's exit code."""
    steps = (STEP_CONSTRAINED, STEP_FREE, STEP_CASSCF)
    replays = (opt1, opt2, casscf)
    per_step = {s: (r, c) for s, r, c in zip(steps, replays, codes, strict=True)}
    return ReplayLauncher(per_step=per_step)


def orca_kd(launcher: ReplayLauncher, **changes) -> OrcaKD:
    """The fixture's CASSCF run is sextets-only; the chain is otherwise the default one."""
    return OrcaKD(
        **{"casscf": CasscfSocTemplate(sextets_only=True), "launcher": launcher, **changes}
    )


def xyz_block(text: str) -> tuple[list[str], list[list[float]]]:
    """Elements and coordinates of the '* xyz charge mult' block of an ORCA input."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("* xyz"))
    rows = [line.split() for line in lines[start + 1 :]]
    rows = rows[: next(i for i, row in enumerate(rows) if row == ["*"])]
    return [r[0] for r in rows], [[float(v) for v in r[1:]] for r in rows]


def tree(root: Path) -> list[Path]:
    return sorted(root.rglob("*"))


# --- OrcaKD -------------------------------------------------------------------------------


def test_orca_chain_gives_seven_gaps_and_features_of_the_optimised_geometry(tmp_path):
    launcher = orca_replay()
    res = orca_kd(launcher).run("[O-]CC", tmp_path / "w")
    assert res.ok, res.reason
    assert [res.values[f"gap_{i}"] for i in range(1, 8)] == pytest.approx(FIXTURE_GAPS)
    gap_keys = {k for k in res.values if k.startswith("gap_")}
    assert gap_keys == {f"gap_{i}" for i in range(1, 8)}  # the gap contract, no uncertainty
    assert gap_keys <= set(kd_embedded.UNITS)
    assert res.values["kd_energies"][0] == 0.0 and len(res.values["kd_energies"]) == 8
    # The fixture's converged geometry pulls both ethoxides to 2.15 A (molSimplify: 2.36 A)
    # and lifts one water, so these come from the ORCA output, not from the assembly.
    assert res.values["dist_md_short"] == pytest.approx(2.15, abs=1e-4)
    assert res.values["dist_md_long"] == pytest.approx(2.15, abs=1e-4)
    assert res.values["mpp"] > 0.01 and res.values["donor_z"] == 8.0
    assert res.values["opt_energy_eh"] == pytest.approx(-3842.131234567902)
    assert res.program_versions["orca"] == "6.1.1" and res.units["gap_1"] == "cm-1"
    assert res.key == key_for(orca_kd(launcher), "[O-]CC") and res.workdir == str(tmp_path / "w")
    assert launcher.steps == [STEP_CONSTRAINED, STEP_FREE, STEP_CASSCF]
    assert [(call.program, call.args) for call in launcher.calls] == [
        ("orca", ["y_opt.inp"]),
        ("orca", ["y_opt.inp"]),
        ("orca", ["dy_casscf_soc.inp"]),
    ]


def test_each_step_starts_from_the_previous_steps_geometry(tmp_path):
    wd = tmp_path / "w"
    assert orca_kd(orca_replay()).run("[O-]CC", wd).ok
    step1 = (wd / STEP_CONSTRAINED / "y_opt.inp").read_text()
    step2 = (wd / STEP_FREE / "y_opt.inp").read_text()
    step3 = (wd / STEP_CASSCF / "dy_casscf_soc.inp").read_text()
    # step 1: the assembled Y complex, its five water O (1, 4, 7, 10, 13) locked at 72 degrees
    elements, _ = xyz_block(step1)
    assert elements[0] == "Y" and [elements[i] for i in (1, 4, 7, 10, 13)] == ["O"] * 5
    assert step1.count(" 72.0 C }") == 5 and "{ A 1 0 4 72.0 C }" in step1
    # step 2: no constraints, started from step 1's final geometry
    final = parse_opt_output(ETHOXIDE_OPT.read_text())
    elements, coords = xyz_block(step2)
    assert "%geom" not in step2 and elements == final["elements"]
    np.testing.assert_allclose(coords, final["coords"], atol=1e-6)
    # step 3: the step-2 geometry with Dy in place of Y, [Dy(H2O)5(OEt)2]+ as a sextet
    elements, coords = xyz_block(step3)
    assert elements == ["Dy" if e == "Y" else e for e in final["elements"]]
    np.testing.assert_allclose(coords, final["coords"], atol=1e-6)
    assert "* xyz 1 6" in step3


def test_step_two_failure_names_the_step_and_keeps_step_one(tmp_path):
    wd = tmp_path / "w"
    launcher = orca_replay(opt2=ORCA_FIX / "y_opt_scf_noconv.out", codes=(0, 1, 0))
    res = orca_kd(launcher).run("[O-]CC", wd)
    assert not res.ok and res.failure_kind == "chemistry"
    assert res.reason.startswith(f"{STEP_FREE}: orca exited 1: SCF not converged")
    assert res.workdir == str(wd)
    assert (wd / STEP_CONSTRAINED / "y_opt.inp").is_file()
    assert (wd / STEP_CONSTRAINED / "y_opt.out").is_file()
    assert not (wd / STEP_CASSCF).exists()
    assert launcher.steps == [STEP_CONSTRAINED, STEP_FREE]


NOT_FOUND = CalculationFailed("orca executable not found: orca", "input")


@pytest.mark.parametrize(
    ("replays", "codes", "step", "kind", "words"),
    [
        (dict(opt1=NOT_FOUND), (0, 0, 0), STEP_CONSTRAINED, "input", "executable not found"),
        (dict(opt2=ORCA_FIX / "y_opt_maxiter.out"), (0, 0, 0), STEP_FREE, "chemistry",
         "maximum number of cycles"),
        # y_opt_synthetic.out is [Y(H2O)5(OCH3)2]+: converged, but not this ligand's complex
        (dict(opt2=ORCA_FIX / "y_opt_synthetic.out"), (0, 0, 0), STEP_FREE, "chemistry",
         "optimised geometry is not [Y(H2O)5L2]: composition"),
        (dict(casscf=ORCA_FIX / "co_plus_soc_min_truncated.out"), (0, 0, 137), STEP_CASSCF,
         "infrastructure", "orca exited 137: output truncated"),
        (dict(casscf=DY_NOCONV), (0, 0, 0), STEP_CASSCF, "chemistry", "CASSCF not converged"),
    ],
)  # fmt: skip
def test_failure_kind_and_step_are_kept(tmp_path, replays, codes, step, kind, words):
    res = orca_kd(orca_replay(**replays, codes=codes)).run("[O-]CC", tmp_path / "w")
    assert (res.status, res.failure_kind) == ("failed", kind)
    assert res.reason.startswith(f"{step}: ") and words in res.reason
    assert res.workdir == str(tmp_path / "w") and (tmp_path / "w" / step).is_dir()


def test_rerun_resumes_at_the_first_unfinished_step(tmp_path):
    wd = tmp_path / "w"
    first = orca_replay(casscf=DY_NOCONV)
    failed = orca_kd(first).run("[O-]CC", wd)
    assert failed.reason.startswith(f"{STEP_CASSCF}: ") and len(first.calls) == 3
    again = orca_replay()
    res = orca_kd(again).run("[O-]CC", wd)
    assert res.ok and res.key == failed.key
    assert again.steps == [STEP_CASSCF]  # the complete optimisations were not relaunched
    assert [res.values[f"gap_{i}"] for i in range(1, 8)] == pytest.approx(FIXTURE_GAPS)
    assert res.program_versions["orca"] == "6.1.1"
    done = orca_replay()
    assert orca_kd(done).run("[O-]CC", wd).values == res.values and done.calls == []
    # a step that runs again invalidates the steps after it, complete or not
    (wd / STEP_CONSTRAINED / "y_opt.out").unlink()
    rerun = orca_replay()
    assert orca_kd(rerun).run("[O-]CC", wd).ok
    assert rerun.steps == [STEP_CONSTRAINED, STEP_FREE, STEP_CASSCF]


def test_workdir_of_another_calculation_is_refused(tmp_path):
    wd = tmp_path / "w"
    assert orca_kd(orca_replay()).run("[O-]CC", wd).ok
    launcher = orca_replay()
    res = orca_kd(launcher).run("[O-]C", wd)  # methoxide, not ethoxide
    assert (res.status, res.failure_kind) == ("failed", "input")
    assert "holds calculation" in res.reason and launcher.calls == []
    full = CasscfSocTemplate()  # same ligand, all spin states: another calculation
    other = orca_kd(launcher, casscf=full).run("[O-]CC", wd)
    assert other.failure_kind == "input" and launcher.calls == []
    assert (wd / MARKER).is_file()


def test_metacharacter_smiles_never_reaches_arguments_or_file_names(tmp_path):
    smiles = "[O-]C(=O)C#N"
    launcher = orca_replay(opt1=CYANOFORMATE_OPT, opt2=CYANOFORMATE_OPT)
    calc = orca_kd(launcher, scratch_root=tmp_path / "scratch")
    res = calc.run(smiles)  # default work directory: scratch root / calculation key
    assert res.ok, res.reason
    assert res.workdir == str(tmp_path / "scratch" / key_for(calc, smiles))
    assert res.values["dist_md_short"] == pytest.approx(2.27, abs=1e-4)
    assert len(launcher.calls) == 3
    forbidden = set("[]()=#")
    for program, args, workdir, _ in launcher.calls:
        assert program == "orca"
        assert all(smiles not in a and not forbidden & set(a) for a in args)
        assert smiles not in str(workdir) and not forbidden & set(str(workdir))
    for path in tree(tmp_path):
        assert not forbidden & set(path.name)
        if path.is_file():
            assert smiles not in path.read_text(errors="replace")


def test_invalid_smiles_raise_before_any_launch(tmp_path):
    launcher = orca_replay()
    with pytest.raises(chem.LigandError, match="'CC'"):
        orca_kd(launcher, scratch_root=tmp_path).run("CC")
    with pytest.raises(chem.LigandError, match="not-a-smiles"):
        MolcasProxy(launcher=launcher, scratch_root=tmp_path).run("not-a-smiles")
    assert launcher.calls == [] and tree(tmp_path) == []


def test_keys_differ_between_calculators_and_change_with_version():
    smiles = "[O-]CC"
    orca = key_for(OrcaKD(), smiles)
    assert orca != key_for(EmbeddedKD(), smiles)
    bumped = dataclasses.replace(OrcaKD())  # same class, same version: same key
    assert orca == key_for(bumped, smiles)
    object.__setattr__(bumped, "version", "2")  # a new release of the calculator
    assert orca != key_for(bumped, smiles)
    assert orca != key_for(OrcaKD(casscf=CasscfSocTemplate(sextets_only=True)), smiles)
    # resources and spelling do not change the result, so not the key either
    assert orca == key_for(OrcaKD(resources=Resources(16, 8000)), "[O-][CH2]C")
    molcas = key_for(MolcasProxy(), smiles)
    assert molcas != key_for(XtbProxyCalculator(), smiles)
    assert len({orca, molcas}) == 2


# MolcasProxy's replays on real OpenMolcas output live in tests/unit/test_openmolcas.py.
