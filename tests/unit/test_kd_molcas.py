"""OpenMolcas CASSCF(9,7)/RASSI-SO/SINGLE_ANISO Kramers doublets: parsers on real outputs made
here (tests/fixtures/openmolcas_kd/README.md), the input writer, the MolcasKD calculator with a
replayed real output. The real program: tests/programs/test_openmolcas_runs.py and
tests/cluster/test_molcas_slurm.py."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from calculators.base import CalculationFailed
from calculators.kd_molcas import MolcasKD, XYZError, donor_atoms, make_job, read_xyz
from calculators.openmolcas.casscf import (
    BOHR_PER_ANGSTROM,
    SEXTETS_QUARTETS_DOUBLETS,
    TEST_SETTINGS,
    CasscfSettings,
    CasscfTemplate,
    MolcasInputError,
    Spin,
    check_run,
    g_tensors,
    input_text,
    kramers_doublets,
    module_blocks,
    parse_output,
    parse_rasscf,
)
from calculators.openmolcas.program import MolcasResources
from calculators.orca.chain import STEP_CONSTRAINED, STEP_FREE
from tests.conftest import FIXTURES
from tests.doubles import ReplayLauncher

KD_FIX = FIXTURES / "openmolcas_kd"
OH_XYZ = KD_FIX / "dy_h2o5_oh2_gfn2_alpb.xyz"
OME_XYZ = KD_FIX / "dy_h2o5_ome2_gfn2_alpb.xyz"
OK = "oh_mb_sextets"
NOT_CONVERGED = "oh_mb_iter3_not_converged"
WRONG_SPACE = "oh_mb_cionly_swapped_orbitals"
PRODUCTION = "ome_production"
_ANISO_SO = re.compile(r"ENERGY OF THE SPIN-ORBIT STATE \(\s*(\d+)\) =\s+(-?\d+\.\d+)")


def log(name: str) -> str:
    with gzip.open(KD_FIX / f"{name}.log.gz", "rt") as fh:
        return fh.read()


def aniso_doublets(text: str, n: int = 8) -> list[float]:
    """SINGLE_ANISO's own SO energies (cm-1), a second print independent of the parser."""
    energies = [float(e) for _, e in _ANISO_SO.findall(text)]
    return energies[: 2 * n : 2]


def stage(name: str, workdir: Path) -> Path:
    """A work directory holding a stored run's job record and output, as the run left it."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(KD_FIX / f"{name}.job.json", workdir / "kd.job.json")
    (workdir / "kd.log").write_text(log(name))
    return workdir


def oh_job():
    elements, xyz = read_xyz(OH_XYZ)
    return make_job(elements, xyz, 1)


# --- parsers on real outputs ------------------------------------------------------------


def test_test_settings_output_gives_eight_kramers_doublets_and_an_axial_ground_state():
    text = log(OK)
    v = parse_output(text, TEST_SETTINGS)
    assert v["kd_energies"][0] == 0.0 and len(v["kd_energies"]) == 8
    assert v["kd_energies"] == pytest.approx(aniso_doublets(text), abs=2e-3)
    assert np.all(np.diff(v["kd_energies"]) > 0)
    gaps = [v[f"gap_{i}"] for i in range(1, 8)]
    assert gaps == pytest.approx(v["kd_energies"][1:])  # Delta E_0i, as the paper and values.py
    assert v["gap_1"] == pytest.approx(784.071, abs=1e-3)
    gx, gy, gz = v["g_ground"]
    assert gx < 1e-3 and gy < 1e-3 and 19.5 < gz < 20.0  # Ising M_J = +-15/2 doublet
    assert len(v["g_doublets"]) == 8 and v["so_states"] == 126
    sextets = v["spin_free_energies"]["6"]
    assert len(sextets) == 21 and sextets[0] == 0.0
    assert max(sextets[:11]) < 2500 < 8000 < min(sextets[11:18]) < 30000 < min(sextets[18:])
    assert min(v["active_f_character"]) > 0.98
    assert v["rasscf_iterations"] == {"6": 15}


def test_production_output_parses_with_production_settings():
    text = log(PRODUCTION)
    v = parse_output(text, CasscfSettings())
    assert v["kd_energies"] == pytest.approx(aniso_doublets(text), abs=2e-3)
    assert v["gap_1"] == pytest.approx(665.0, abs=0.1)
    assert v["g_ground"][2] == pytest.approx(19.99, abs=0.01)
    assert "Dy.ANO-RCC-VTZP" in text and "O.ANO-RCC-VDZP" in text and "C.ANO-RCC-VDZ" in text
    sextets = v["spin_free_energies"]["6"]
    assert max(sextets[:11]) < 2000 and 8000 < min(sextets[11:18]) and min(sextets[18:]) > 34000


def test_rasscf_that_does_not_converge_is_a_chemistry_failure(tmp_path):
    with pytest.raises(CalculationFailed) as err:
        CasscfTemplate().parse(stage(NOT_CONVERGED, tmp_path))
    assert err.value.kind == "chemistry"
    assert err.value.reason == "RASSCF (CASSCF) did not converge after 3 iterations"
    assert "Iterations = 3, 100" in (KD_FIX / f"{NOT_CONVERGED}.input").read_text()


def test_active_space_that_is_not_the_4f_shell_is_a_chemistry_failure():
    """Real run: two ligand orbitals swapped into the active space, CASCI (no optimisation)."""
    text = log(WRONG_SPACE)
    with pytest.raises(CalculationFailed) as err:
        parse_output(text, TEST_SETTINGS)
    assert err.value.kind == "chemistry"
    assert err.value.reason.startswith("active space is not the Dy 4f shell")
    assert "the 11 lowest sextets span" in err.value.reason
    assert "Dy f character 0.00, 0.00" in err.value.reason
    block = parse_rasscf(module_blocks(text, "rasscf")[0])
    assert sum(c < 0.1 for c in block.f_character) == 2  # exactly the two swapped orbitals


@pytest.mark.parametrize("cut", ["--- Stop Module: rassi", "--- Start Module: single_aniso"])
def test_truncated_output_is_an_infrastructure_failure(cut):
    text = log(OK)
    with pytest.raises(CalculationFailed) as err:
        parse_output(text[: text.index(cut)], TEST_SETTINGS)
    assert err.value.kind == "infrastructure"
    assert err.value.reason.startswith("output truncated: modules finished")


def test_input_error_of_a_module_names_the_module():
    text = log(OK).replace("/rc=_RC_ALL_IS_WELL_ ---", "/rc=_RC_INPUT_ERROR_ ---", 1)
    with pytest.raises(CalculationFailed, match="module gateway stopped with _RC_INPUT_ERROR_"):
        check_run(text, 1)


def test_single_aniso_multiplets_must_be_doublets():
    """MLTP = 1 / 8 would print a pseudo-spin 7/2 and meaningless ground-doublet g values."""
    text = log(OK).replace("( effective S =  1/2)", "( effective S =  7/2)", 1)
    with pytest.raises(CalculationFailed, match="effective S = 7/2, not 1/2"):
        g_tensors(text)


def test_split_pair_is_not_a_kramers_doublet():
    so = [-1.0, -1.0, -0.99, -0.99 + 1e-5]
    assert kramers_doublets(so[:2], 1) == [0.0]
    with pytest.raises(CalculationFailed, match="states 3 and 4 differ by 2.195 cm-1"):
        kramers_doublets(so, 2)
    with pytest.raises(CalculationFailed, match="4 SO-RASSI states printed, 6 needed"):
        kramers_doublets(so, 3)


def test_output_of_another_geometry_is_rejected(tmp_path):
    stage(OK, tmp_path)
    record = json.loads((tmp_path / "kd.job.json").read_text())
    record["job"]["coordinates"][1][0] += 0.01
    (tmp_path / "kd.job.json").write_text(json.dumps(record))
    with pytest.raises(CalculationFailed, match="centre O1 of the output is not at the job"):
        CasscfTemplate().parse(tmp_path)


# --- input ------------------------------------------------------------------------------


def test_test_settings_input_is_what_the_stored_real_run_used():
    assert input_text(oh_job(), TEST_SETTINGS) == (KD_FIX / f"{OK}.input").read_text()


def test_production_input_gives_each_atom_role_its_basis():
    elements, xyz = read_xyz(OME_XYZ)
    xyz = xyz + np.array([1.0, -2.0, 0.5])  # Dy off the origin: ANGMOM must follow it
    job = make_job(elements, xyz, 1)
    text = input_text(job, CasscfSettings())
    blocks = re.findall(r" Basis Set\n  (\S+)\n((?:  \S+ .*Angstrom\n)+) End of Basis Set", text)
    counts = {basis: len(rows.splitlines()) for basis, rows in blocks}
    assert counts == {
        "Dy.ANO-RCC-VTZP": 1,
        "O.ANO-RCC-VDZP": 7,
        "C.ANO-RCC-VDZ": 2,
        "H.ANO-RCC-VDZ": 16,
    }
    origin = " ".join(f"{v * BOHR_PER_ANGSTROM:.8f}" for v in (1.0, -2.0, 0.5))
    assert f" ANGMOM\n  {origin}\n RICD\n" in text
    assert " AMFI\n" in text and "Spin = 6" in text and "CIRoot = 21 21 1" in text
    assert " MLTP\n  8\n  2 2 2 2 2 2 2 2\n" in text


def test_quartets_and_doublets_get_their_own_rasscf_blocks_and_jobiph_files():
    settings = CasscfSettings(spins=SEXTETS_QUARTETS_DOUBLETS)
    text = input_text(oh_job(), settings)
    assert text.count("&RASSCF") == 3
    for k, (mult, roots) in enumerate([(6, 21), (4, 224), (2, 490)], start=1):
        assert f"Spin = {mult}\n nActEl = 9 0 0\n Ras2 = 7\n CIRoot = {roots} {roots} 1" in text
        assert f">> COPY $Project.JobIph JOB{k:03d}" in text
    assert " Nr of JobIph\n  3 21 128 130\n" in text
    assert "(128 in RASSI)" in settings.roots_label


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(spins=(Spin(4, 224, 128),)), "first spin block must be the sextets"),
        (dict(dy_basis="def2-TZVP"), "dy_basis must be an ANO-RCC basis label"),
        (dict(n_doublets=64), "n_doublets 64 not in 1..63"),
        (dict(max_iterations=0), "max_iterations must be >= 1"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CasscfSettings(**kwargs)


def test_spin_block_roots_are_bounded_by_the_cas():
    with pytest.raises(ValueError, match="so_roots <= roots <= full CAS count"):
        Spin(6, 22, 21)


# --- geometry input ---------------------------------------------------------------------


def test_xyz_without_dy_is_rejected(tmp_path):
    path = tmp_path / "y.xyz"
    path.write_text(OH_XYZ.read_text().replace("Dy ", "Y  "))
    with pytest.raises(XYZError, match="no Dy atom"):
        read_xyz(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: "21" + t[2:], "count line says 21 atoms, 20 atom lines follow"),
        (lambda t: t.replace("H      2.99968566", "Xx     2.99968566"), "'Xx' is not an element"),
        (lambda t: t.replace("-0.10686179", "abc"), "are not numbers"),
    ],
)
def test_unreadable_xyz_names_the_problem(tmp_path, edit, message):
    path = tmp_path / "bad.xyz"
    path.write_text(edit(OH_XYZ.read_text()))
    with pytest.raises(XYZError, match=message):
        read_xyz(path)


def test_wrong_charge_or_multiplicity_is_refused_before_any_run():
    elements, xyz = read_xyz(OH_XYZ)
    with pytest.raises(MolcasInputError, match="charge 0 gives 134 electrons: .* odd count"):
        make_job(elements, xyz, 0)
    with pytest.raises(MolcasInputError, match="exactly one Dy atom, found 2"):
        make_job(("Dy", *elements), np.vstack([[5.0, 5, 5], xyz]), 1)
    with pytest.raises(MolcasInputError, match="multiplicity 4"):
        from calculators.openmolcas.casscf import validate_job

        validate_job(dataclasses.replace(make_job(elements, xyz, 1), multiplicity=4))


def test_donor_atoms_are_the_seven_oxygens_bound_to_dy():
    elements, xyz = read_xyz(OME_XYZ)
    donors = donor_atoms(elements, xyz)
    assert [elements[i] for i in donors] == ["O"] * 7


# --- the calculator with a replayed real output -----------------------------------------


def test_run_geometry_replayed_gives_the_stored_values_then_reuses_them(tmp_path):
    replay = ReplayLauncher(log(OK))
    calc = MolcasKD(settings=TEST_SETTINGS, launcher=replay, scratch_root=tmp_path)
    elements, xyz = read_xyz(OH_XYZ)
    result = calc.run_geometry(elements, xyz, 1)
    assert result.ok, result.reason
    assert result.values["kd_energies"] == pytest.approx(aniso_doublets(log(OK)), abs=2e-3)
    assert result.workdir == str(tmp_path / result.key)
    assert result.program_versions["openmolcas"] == "v22.10"
    assert result.method.startswith("OpenMolcas v22.10 SA-CASSCF(9,7) (21 sextets) + RASSI-SO")
    assert "ANO-RCC-MB(Dy)" in result.method and result.method.endswith("user-given XYZ")
    call = replay.calls[0]
    assert call.program == "env" and call.args[-1] == "kd.input" and "MOLCAS_MEM=2000" in call.args
    assert result.units["gap_1"] == "cm-1" and len(result.values["dy_donor_distances"]) == 7
    again = calc.run_geometry(elements, xyz, 1)
    assert len(replay.calls) == 1 and again.values == result.values  # complete step reused


def test_failed_run_keeps_its_work_directory_and_names_the_cause(tmp_path):
    replay = ReplayLauncher(log(NOT_CONVERGED), returncode=96)
    settings = dataclasses.replace(TEST_SETTINGS, max_iterations=3)
    calc = MolcasKD(settings=settings, launcher=replay, scratch_root=tmp_path)
    elements, xyz = read_xyz(OH_XYZ)
    result = calc.run_geometry(elements, xyz, 1)
    assert (result.status, result.failure_kind) == ("failed", "chemistry")
    assert result.reason == (
        "casscf: pymolcas exited 96: RASSCF (CASSCF) did not converge after 3 iterations"
    )
    assert (Path(result.workdir) / "casscf" / "kd.log").is_file()
    assert result.method.startswith("OpenMolcas v22.10 ")


def test_run_smiles_uses_the_embedded_relaxed_complex(tmp_path):
    """The default geometry step rebuilds exactly the geometry the stored run was made on."""
    replay = ReplayLauncher(log(OK))
    calc = MolcasKD(settings=TEST_SETTINGS, launcher=replay, scratch_root=tmp_path)
    result = calc.run("[OH-]")
    assert result.ok, result.reason
    assert result.values["angle_lml"] > 170 and result.values["donor_z"] == 8
    assert result.method.endswith("GFN2-xTB/ALPB(water) relaxation, water O kept in plane")
    assert {"molSimplify", "tblite", "openmolcas"} <= set(result.program_versions)
    assert calc.canonical_input("[OH-]")["casscf"]["dy_basis"] == "ANO-RCC-MB"
    assert (Path(result.workdir) / "geometry.xyz").is_file()
    again = calc.run("[OH-]")
    assert len(replay.calls) == 1  # both steps reused (the geometry as written, to 1e-8 A)
    assert again.values["kd_energies"] == result.values["kd_energies"]
    assert again.values["angle_lml"] == pytest.approx(result.values["angle_lml"], abs=1e-6)


def test_rerun_resumes_on_the_stored_embedded_geometry(tmp_path):
    """The production run's geometry, stored as the geometry step's result, is not rebuilt."""
    record = json.loads((KD_FIX / f"{PRODUCTION}.job.json").read_text())["job"]
    calc = MolcasKD(launcher=ReplayLauncher(log(PRODUCTION)), scratch_root=tmp_path)
    where = tmp_path / "w"
    where.mkdir()
    atoms = zip(record["elements"], record["coordinates"], strict=True)
    rows = [f"{e} {x:.8f} {y:.8f} {z:.8f}" for e, (x, y, z) in atoms]
    (where / "geometry.xyz").write_text(f"{len(rows)}\nstored\n" + "\n".join(rows) + "\n")
    result = calc.run("[O-]C", where)
    assert result.ok, result.reason
    assert result.values["gap_1"] == pytest.approx(665.0, abs=0.1)
    assert result.values["dist_md_short"] == pytest.approx(
        min(result.values["dy_donor_distances"][-2:]), abs=1e-9
    )
    assert "ANO-RCC-VTZP(Dy)/ANO-RCC-VDZP(donor atoms" in result.method


def test_calculation_key_changes_with_settings_not_resources():
    a = MolcasKD(settings=TEST_SETTINGS)
    b = MolcasKD(settings=TEST_SETTINGS, resources=MolcasResources(mem_mb=500, threads=2))
    c = MolcasKD()
    assert a.canonical_input("[O-]C") == b.canonical_input("[O-]C")
    assert a.canonical_input("[O-]C") != c.canonical_input("[O-]C")


# --- the ORCA geometry step, replayed ----------------------------------------------------


def test_orca_geometry_step_feeds_the_optimised_y_geometry_as_dy(tmp_path):
    """geometry='orca' reuses the ORCA chain's two optimisation steps, then swaps Y for Dy."""
    from calculators.orca import parse_opt_output

    orca_out = FIXTURES / "orca" / "y_opt_ethoxide_synthetic.out"
    # the stored ORCA optimisation for both geometry steps; the CASSCF launch is lost
    launcher = ReplayLauncher(
        CalculationFailed("worker lost (test)", "infrastructure"),
        per_step={STEP_CONSTRAINED: (orca_out, 0), STEP_FREE: (orca_out, 0)},
    )
    calc = MolcasKD(settings=TEST_SETTINGS, geometry="orca", launcher=launcher)
    result = calc.run("[O-]CC", tmp_path / "w")
    assert (result.status, result.failure_kind) == ("failed", "infrastructure")
    assert result.reason == "casscf: worker lost (test)"
    assert [(call.program, call.workdir.name) for call in launcher.calls] == [
        ("orca", STEP_CONSTRAINED),
        ("orca", STEP_FREE),
        ("env", "casscf"),
    ]
    job = json.loads((tmp_path / "w" / "casscf" / "kd.job.json").read_text())["job"]
    optimised = parse_opt_output(orca_out.read_text())
    assert job["elements"] == ["Dy" if e == "Y" else e for e in optimised["elements"]]
    assert np.allclose(job["coordinates"], optimised["coords"])
    assert sorted(job["elements"][i] for i in job["donors"]) == ["O"] * 7
    assert result.method.endswith("Y-analogue optimisation (constrained, then free), Y -> Dy")
