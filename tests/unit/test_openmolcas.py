"""OpenMolcas LoProp calculator: launcher command, writer, parsers, replayed and real runs.

Values asserted below were read by eye from the real files in tests/fixtures/openmolcas/
(see its README for provenance): the ioChem-BD ethane excerpt, and complete outputs of real
OpenMolcas 22.10 runs made here (H2O at tiny settings, its failures, methoxide at production
settings). Truncated variants are cut from those real files inside the tests. The real program
runs in tests/programs/test_openmolcas_runs.py.
"""

import re
from pathlib import Path

import pytest
from ase.units import Bohr

from calculators.base import CalculationFailed, LaunchOutcome, SubprocessLauncher, key_for
from calculators.openmolcas import (
    LoPropJob,
    LoPropSettings,
    LoPropTemplate,
    MolcasResources,
    OpenMolcasLoProp,
    ano_r_basis,
    atom_proxy,
    input_text,
    molcas_command,
    parse_localized_properties,
    program_versions,
    xyz_text,
)
from calculators.openmolcas import program as molcas_program
from calculators.openmolcas.loprop import check_run
from tests.conftest import FIXTURES
from tests.doubles import H2O_SETTINGS, ReplayLauncher, h2o_job

MOLCAS_FIX = FIXTURES / "openmolcas"
ETHANE_LOG = MOLCAS_FIX / "iochembd_molcas_dynamic_loprop_ethane_excerpt.log"
H2O_LOG = MOLCAS_FIX / "real_h2o_pbe_ano-r0_loprop.log"
H2O_NOCONV_LOG = MOLCAS_FIX / "real_h2o_scf_not_converged.log"
H2O_SEWARD_ERROR_LOG = MOLCAS_FIX / "real_h2o_rx2c_under_seward_input_error.log"
H2O_ODD_LOG = MOLCAS_FIX / "real_h2o_odd_electrons_charge_error.log"

# Ethane atoms as the excerpt's ATOMIC DOMAIN centres print them (bohr), in printed order.
ETHANE_BOHR = (
    ("C", (1.44186120, 0.0, 0.0)),
    ("H", (2.19441250, -1.91334630, 0.0)),
    ("H", (2.19441250, 0.95667315, 1.65700650)),
    ("H", (2.19441250, 0.95667315, -1.65700650)),
    ("C", (-1.44186120, 0.0, 0.0)),
    ("H", (-2.19441250, 1.91334630, 0.0)),
    ("H", (-2.19441250, -0.95667315, 1.65700650)),
    ("H", (-2.19441250, -0.95667315, -1.65700650)),
)


def ethane_job(**changes) -> LoPropJob:
    """The geometry behind the ethane excerpt, in Angstrom."""
    fields = dict(
        elements=tuple(el for el, _ in ETHANE_BOHR),
        coordinates=tuple(tuple(v * Bohr for v in xyz) for _, xyz in ETHANE_BOHR),
    )
    fields.update(changes)
    return LoPropJob(**fields)


@pytest.fixture(scope="module")
def ethane_text() -> str:
    return ETHANE_LOG.read_text()


@pytest.fixture(scope="module")
def ethane(ethane_text):
    return parse_localized_properties(ethane_text)


# --- "Localized properties" parser on the real ethane block ---------------------------


def test_ethane_atomic_domains_in_geometry_order(ethane):
    atoms = [d for d in ethane if d.is_atom]
    assert [d.label for d in atoms] == ["C1", "H2", "H3", "H4", "C5", "H6", "H7", "H8"]
    assert len(ethane) == 15  # 8 atoms + 7 bonds passing LoProp's bond threshold


def test_ethane_carbon_and_hydrogen_values(ethane):
    by_label = {d.label: d for d in ethane}
    c1, h2, c5, h8 = by_label["C1"], by_label["H2"], by_label["C5"], by_label["H8"]
    assert c1.charge == pytest.approx(-0.37899941, abs=1e-9)
    assert c1.isotropic_polarizability == pytest.approx(1.37562510, abs=1e-9)
    assert c1.polarizability == pytest.approx(
        (1.53099372, 0.00029156, 1.29790318, 0.00030398, -0.00000832, 1.29797839), abs=1e-9
    )
    assert c1.center_bohr == pytest.approx((1.44186120, 0.0, 0.0))
    assert h2.charge == pytest.approx(0.12633167, abs=1e-9)
    assert h2.isotropic_polarizability == pytest.approx(0.79566137, abs=1e-9)
    assert c5.charge == pytest.approx(-0.37899903, abs=1e-9)
    assert c5.isotropic_polarizability == pytest.approx(1.37558677, abs=1e-9)
    assert h8.charge == pytest.approx(0.12633381, abs=1e-9)
    assert h8.isotropic_polarizability == pytest.approx(0.79561114, abs=1e-9)


def test_ethane_dipoles_take_the_nuclear_contribution_for_atoms(ethane):
    by_label = {d.label: d for d in ethane}
    c1 = by_label["C1"]
    assert c1.dipole == pytest.approx((-0.09892881, 0.00000401, 0.0), abs=1e-9)
    assert c1.dipole_magnitude == pytest.approx(0.09892881, abs=1e-8)  # printed magnitude
    assert by_label["H6"].dipole_magnitude == pytest.approx(0.13236954, abs=1e-8)


def test_ethane_bond_domains(ethane):
    by_label = {d.label: d for d in ethane}
    bond = by_label["H2,C1"]
    assert not bond.is_atom and bond.labels == ("H2", "C1")
    assert bond.charge == pytest.approx(0.0, abs=1e-8)
    assert bond.dipole == bond.electronic_dipole  # bonds print no nuclear contribution
    assert bond.dipole_magnitude == pytest.approx(0.37599420, abs=1e-8)
    assert bond.isotropic_polarizability == pytest.approx(2.87860075, abs=1e-9)
    assert by_label["C5,C1"].isotropic_polarizability == pytest.approx(4.30919091, abs=1e-9)


def test_ethane_charges_sum_to_neutral(ethane):
    assert sum(d.charge for d in ethane) == pytest.approx(0.0, abs=1e-6)


def test_atom_proxy_by_geometry_index(ethane):
    carbon = atom_proxy(ethane, 0)
    assert (carbon.label, carbon.atomic_number) == ("C1", 6)
    assert carbon.charge == pytest.approx(-0.37899941, abs=1e-9)
    assert carbon.dipole == pytest.approx(0.09892881, abs=1e-8)
    assert carbon.dipole_debye == pytest.approx(0.09892881 * 2.541746, rel=1e-5)
    assert carbon.polarizability == pytest.approx(1.37562510, abs=1e-9)
    hydrogen = atom_proxy(ethane, 7)
    assert (hydrogen.label, hydrogen.atomic_number) == ("H8", 1)
    assert hydrogen.polarizability == pytest.approx(0.79561114, abs=1e-9)


def test_atom_proxy_index_outside_molecule(ethane):
    with pytest.raises(CalculationFailed, match="outside the 8 LoProp atoms"):
        atom_proxy(ethane, 8)


# --- failures: missing, truncated, overflowed -----------------------------------------


def _cut_before(text: str, marker: str) -> str:
    return text[: text.index(marker)]


@pytest.mark.parametrize(
    "marker",
    [
        " ATOMIC DOMAIN: H3",  # mid-block, between domains
        "Isotropic Polarizability:  0.79566137",  # inside H2's domain
        " === Charge capacitance for bonds ===",  # after the last domain
    ],
)
def test_truncated_block_is_a_clear_failure(ethane_text, marker):
    with pytest.raises(CalculationFailed, match="truncated") as info:
        parse_localized_properties(_cut_before(ethane_text, marker))
    assert info.value.kind == "chemistry"


def test_output_without_loprop_block(ethane_text):
    with pytest.raises(CalculationFailed, match="no LoProp 'The Localized properties' block"):
        parse_localized_properties(_cut_before(ethane_text, "The Localized properties"))


@pytest.mark.parametrize(
    "printed",
    ["Total charge    : -0.37899941", "Isotropic Polarizability:  1.37562510"],
)
def test_overflowed_field_is_a_clear_failure(ethane_text, printed):
    key = printed.split(":")[0]
    broken = ethane_text.replace(printed, f"{key}:************", 1)
    with pytest.raises(CalculationFailed, match=r"overflowed .*\*{12}"):
        parse_localized_properties(broken)


def test_missing_polarizability_names_nofield(ethane_text):
    # LoProp with NoField (or under symmetry) prints neither the tensor nor the isotropic value.
    tensor = re.compile(
        r"  Symmetrized Local Polarizability Tensor.*?Isotropic Polarizability:.*?\n", re.S
    )
    domains = parse_localized_properties(tensor.sub("", ethane_text))
    assert len(domains) == 15
    assert all(d.isotropic_polarizability is None for d in domains)
    with pytest.raises(CalculationFailed, match="NoField or with symmetry"):
        atom_proxy(domains, 0)


# --- program versions (the pymolcas banner of a real output) -------------------------


def test_program_versions_absent_in_excerpt(ethane_text):
    assert program_versions(ethane_text) == {}


def test_program_versions_from_a_real_banner():
    assert program_versions(H2O_LOG.read_text()) == {
        "openmolcas": "v22.10",
        "pymolcas": "py2.23",
        "pymolcas_build": "b313cccc6599bb6eeae34724422166b3",
        "libxc": "5.2.3",
    }
    # a run that stops in SEWARD never reaches the KS-DFT code: no Libxc line
    assert "libxc" not in program_versions(H2O_SEWARD_ERROR_LOG.read_text())


def test_program_versions_ignore_later_version_words():
    text = "Some module\n" * 300 + "            version: v99.1\n"
    assert program_versions(text) == {}


# --- how pymolcas is launched ---------------------------------------------------------


def _script(tmp_path: Path, name: str, shebang: str) -> str:
    path = tmp_path / name
    path.write_text(f"{shebang}\nprint('hi')\n")
    return str(path)


def test_command_is_env_with_private_scratch_and_resources(tmp_path):
    script = _script(tmp_path, "pymolcas", "#!/usr/bin/python3")
    program, args = molcas_command("x.input", tmp_path / "w", MolcasResources(3000, 4), script)
    assert program == "env"
    settings = dict(a.split("=", 1) for a in args if "=" in a)
    assert settings["MOLCAS_MEM"] == "3000"
    assert settings["OMP_NUM_THREADS"] == settings["OPENBLAS_NUM_THREADS"] == "4"
    assert settings["MOLCAS_WORKDIR"] == str((tmp_path / "w" / "molcas_scratch").resolve())
    assert settings["MOLCAS_KEEP_WORKDIR"] == "NO"
    assert (tmp_path / "w" / "molcas_scratch").is_dir()  # pymolcas will not create it
    assert args[-3:] == ["/usr/bin/python3", script, "x.input"]
    assert args[:6] == ["-u", "PYTHONPATH", "-u", "PYTHONHOME", "-u", "VIRTUAL_ENV"]
    with pytest.raises(ValueError, match="plain file name"):
        molcas_command("../x.input", tmp_path, MolcasResources())


def test_interpreter_is_read_from_the_shebang(tmp_path):
    assert molcas_program.interpreter_for(_script(tmp_path, "a", "#!/opt/py/bin/python3.9")) == (
        "/opt/py/bin/python3.9"
    )
    # `env python3` beside a conda/venv bin directory: that directory's python3
    conda = tmp_path / "conda" / "bin"
    conda.mkdir(parents=True)
    (conda / "python3").write_text("")
    assert molcas_program.interpreter_for(_script(conda, "pymolcas", "#!/usr/bin/env python3")) == (
        str(conda.resolve() / "python3")
    )
    # `env python3` elsewhere (the Debian package in /usr/bin): the distribution's Python
    assert molcas_program.interpreter_for(_script(tmp_path, "b", "#!/usr/bin/env python3")) == (
        "/usr/bin/python3"
    )


def test_resources_are_validated():
    with pytest.raises(ValueError, match="threads"):
        MolcasResources(threads=0)
    with pytest.raises(ValueError, match="too small"):
        MolcasResources(mem_mb=10)


def test_launcher_executables_name_the_pymolcas_script(tmp_path):
    script = _script(tmp_path, "my-pymolcas", "#!/usr/bin/python3")
    calc = OpenMolcasLoProp(launcher=SubprocessLauncher({"pymolcas": script}))
    args = calc.template.write_inputs(h2o_job(), tmp_path)
    assert args[-2:] == [script, "loprop.input"]


def test_resources_do_not_change_the_key():
    job = h2o_job()
    assert key_for(OpenMolcasLoProp(), job) == key_for(
        OpenMolcasLoProp(resources=MolcasResources(8000, 8)), job
    )


# --- how a real run ends: check_run on real outputs -----------------------------------


def test_complete_real_output_passes():
    check_run(H2O_LOG.read_text())


def test_real_scf_not_converged_is_a_chemistry_failure():
    with pytest.raises(CalculationFailed, match=r"SCF not converged after 2 iterations") as info:
        check_run(H2O_NOCONV_LOG.read_text())
    assert info.value.kind == "chemistry" and "_RC_NOT_CONVERGED_" in info.value.reason


def test_real_seward_input_error_names_the_keyword():
    with pytest.raises(CalculationFailed, match="Seward input error") as info:
        check_run(H2O_SEWARD_ERROR_LOG.read_text())
    assert info.value.kind == "input"
    assert "RX2C" in info.value.reason and "Gateway input" in info.value.reason


def test_real_odd_electron_charge_is_an_input_failure():
    with pytest.raises(CalculationFailed, match="molecular charge") as info:
        check_run(H2O_ODD_LOG.read_text())
    assert info.value.kind == "input"


@pytest.mark.parametrize(
    "marker, module",
    [
        ("--- Stop Module: gateway", "gateway"),
        ("--- Stop Module: scf", "scf"),
        ("ATOMIC DOMAIN: H2", "loprop"),
        ("--- Stop Module: loprop", "loprop"),
    ],
)
def test_real_output_truncated_names_the_module(marker, module):
    text = H2O_LOG.read_text()
    with pytest.raises(CalculationFailed, match=f"truncated: it stops inside module {module}"):
        check_run(text[: text.index(marker)])


def test_output_without_any_module_is_a_clear_failure():
    with pytest.raises(CalculationFailed, match="did not start a module"):
        check_run("parnell failed to create a WorkDir at /nowhere\n")


# --- the real H2O output through the parser -------------------------------------------


def test_real_h2o_loprop_values():
    domains = parse_localized_properties(H2O_LOG.read_text())
    assert [d.label for d in domains] == ["O1", "H2,O1", "H2", "H3,O1", "H3"]
    oxygen = atom_proxy(domains, 0)
    assert (oxygen.label, oxygen.atomic_number) == ("O1", 8)
    assert oxygen.charge == pytest.approx(-0.50412520, abs=1e-9)
    assert oxygen.dipole == pytest.approx(0.39202675, abs=1e-8)
    # ANO-R0 is a minimal basis: the bare O domain's polarizability comes out negative
    assert oxygen.polarizability == pytest.approx(-0.29972584, abs=1e-9)
    assert atom_proxy(domains, 1).charge == pytest.approx(0.25206260, abs=1e-9)
    assert domains[0].center_bohr == pytest.approx((0.0, 0.0, 0.117 / Bohr), abs=1e-7)


# --- input writer ---------------------------------------------------------------------


def test_input_has_sections_in_order_and_c1():
    text = input_text("loprop.xyz", -1, 1, LoPropSettings())
    lines = [ln.strip() for ln in text.splitlines()]
    order = [lines.index(s) for s in ("&GATEWAY", "&SEWARD", "&SCF", "&LOPROP")]
    assert order == sorted(order)
    for expected in ("Coord = loprop.xyz", "Basis = ANO-R2", "Group = C1", "RICD"):
        assert expected in lines
    # RICD (and RX2C) are GATEWAY keywords: under &SEWARD the real program stops
    assert lines.index("RICD") < lines.index("&SEWARD")
    assert "RX2C" not in lines and not any(ln.startswith("Iterations") for ln in lines)
    assert "KSDFT = PBE" in lines and "Charge = -1" in lines
    assert "UHF" not in lines and not any(ln.startswith("Spin") for ln in lines)
    assert "nofield" not in text.lower()  # polarizabilities need the finite-field runs


def test_input_open_shell_and_options():
    settings = LoPropSettings(
        basis="O.ANO-R...4s3p2d1f.", relativistic="RX2C", bond=0.0, ricd=False, scf_iterations=7
    )
    lines = [ln.strip() for ln in input_text("x.xyz", 0, 3, settings).splitlines()]
    assert "UHF" in lines and "Spin = 3" in lines
    assert "Basis = O.ANO-R...4s3p2d1f." in lines and "Bond = 0.0" in lines
    assert "RICD" not in lines and "Iterations = 7" in lines
    assert lines.index("RX2C") < lines.index("&SEWARD")


def test_input_matches_the_stored_real_input():
    stored = (MOLCAS_FIX / "real_h2o_pbe_ano-r0_loprop.input").read_text()
    assert input_text("loprop.xyz", 0, 1, H2O_SETTINGS) == stored


def test_input_rejects_multiline_settings():
    with pytest.raises(ValueError, match="one non-empty line"):
        input_text("x.xyz", 0, 1, LoPropSettings(basis="ANO-R2\n&RASSCF"))


def test_regression_inputs_show_nofield_removes_polarizabilities():
    """Real OpenMolcas tests: 014 (NoField) checks no LOPROP_A, 071 (field) checks 36."""
    nh3 = (MOLCAS_FIX / "test_standard_014.input").read_text()
    h2o = (MOLCAS_FIX / "test_standard_071.input").read_text()
    assert "NoField" in nh3 and "LOPROP_A[" not in nh3
    assert "NoField" not in h2o
    assert h2o.count("#> LOPROP_A[") == 6 * 6  # 6 tensor components x 6 domains of 3 atoms
    assert "NoField" not in input_text("x.xyz", 0, 1, LoPropSettings())


def test_xyz_text_is_plain_angstrom_xyz():
    text = xyz_text(["dy", "O"], [(0.0, 0.0, 0.0), (0.0, 0.0, 2.3)], "job 1")
    lines = text.splitlines()
    assert lines[0] == "2" and lines[1] == "job 1"
    assert lines[2].split() == ["Dy", "0.00000000", "0.00000000", "0.00000000"]
    assert lines[3].split()[3] == "2.30000000"
    with pytest.raises(ValueError):
        xyz_text(["H"], [(0.0, 0.0, 0.0)], "bohr")


def test_ano_r_basis_labels():
    assert ano_r_basis({"o": "4s3p2d1f", "H": "3s2p1d"}) == "O.ANO-R...4s3p2d1f., H.ANO-R...3s2p1d."
    with pytest.raises(ValueError, match="bad contraction"):
        ano_r_basis({"O": "4s3p;rm"})


def test_write_inputs_files_and_arguments(tmp_path):
    template = LoPropTemplate()
    args = template.write_inputs(ethane_job(), tmp_path)
    assert (template.program, args[-1], template.output_name()) == (
        "env",
        "loprop.input",
        "loprop.log",
    )
    assert f"MOLCAS_WORKDIR={(tmp_path / 'molcas_scratch').resolve()}" in args
    assert (tmp_path / "loprop.xyz").read_text().splitlines()[0] == "8"
    assert "Coord = loprop.xyz" in (tmp_path / "loprop.input").read_text()


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(elements=("C", "Xx") + ("H",) * 6), "unknown element symbol 'Xx'"),
        (dict(multiplicity=2), "multiplicity 2 is impossible with 18 electrons"),
        (dict(donor_index=8), "donor_index 8 outside 0..7"),
        (dict(coordinates=((0.0, 0.0, float("nan")),) * 8), "not 3 finite numbers"),
        (dict(elements=("C",) * 7), "7 elements but 8 coordinate rows"),
    ],
)
def test_bad_job_is_an_input_failure(tmp_path, changes, message):
    with pytest.raises(CalculationFailed, match=message) as info:
        LoPropTemplate().write_inputs(ethane_job(**changes), tmp_path)
    assert info.value.kind == "input"
    assert not (tmp_path / "loprop.input").exists()


def test_project_name_is_validated():
    with pytest.raises(ValueError, match="project name"):
        LoPropTemplate(project="c1ccccc1/../x")


def test_key_depends_on_settings():
    job = ethane_job()
    default, other = OpenMolcasLoProp(), OpenMolcasLoProp(LoPropSettings(basis="ANO-RCC-VTZP"))
    assert key_for(default, job) != key_for(other, job)
    assert key_for(default, job) == key_for(OpenMolcasLoProp(), job)


# --- full run through base.run_program with replayed real outputs -------------------


def test_replayed_real_run_gives_ok_result(tmp_path):
    launcher = ReplayLauncher(H2O_LOG.read_text())
    result = OpenMolcasLoProp(H2O_SETTINGS, launcher=launcher).run(h2o_job(), tmp_path)
    assert result.ok, result.reason
    assert result.method == "OpenMolcas v22.10 KS-DFT PBE/ANO-R0 RICD + LoProp"
    [call] = launcher.calls
    assert call.program == "env" and call.args[-1] == "loprop.input"
    assert call.files == ["loprop.input", "loprop.job.json", "loprop.xyz", "molcas_scratch"]
    values = result.values
    assert (values["label"], values["atomic_number"]) == ("O1", 8)
    assert values["charge"] == pytest.approx(-0.50412520, abs=1e-9)
    assert values["dipole"] == pytest.approx(0.39202675, abs=1e-8)
    assert values["polarizability"] == pytest.approx(-0.29972584, abs=1e-9)
    assert values["atom_charges"][1] == pytest.approx(0.25206260, abs=1e-9)
    assert result.units["polarizability"] == "bohr^3" and result.units["dipole"] == "e*bohr"
    assert result.units["atomic_number"] == "1"
    assert result.program_versions["openmolcas"] == "v22.10"
    assert result.to_record()["status"] == "ok"


def test_replayed_real_noconv_run_fails_with_cause_and_keeps_workdir(tmp_path):
    launcher = ReplayLauncher(H2O_NOCONV_LOG.read_text(), returncode=96)
    result = OpenMolcasLoProp(H2O_SETTINGS, launcher=launcher).run(h2o_job(), tmp_path / "w")
    assert (result.status, result.failure_kind) == ("failed", "chemistry")
    assert result.reason.startswith("pymolcas exited 96: SCF not converged after 2 iterations")
    assert result.workdir == str(tmp_path / "w") and (tmp_path / "w" / "loprop.input").exists()
    assert result.values == {}


def test_replayed_truncated_run_fails_with_cause(tmp_path):
    text = H2O_LOG.read_text()
    cut = text[: text.index(" ATOMIC DOMAIN: H3")]
    result = OpenMolcasLoProp(H2O_SETTINGS, launcher=ReplayLauncher(cut, returncode=1)).run(
        h2o_job(), tmp_path
    )
    assert result.status == "failed" and result.failure_kind == "chemistry"
    assert "pymolcas exited 1" in result.reason and "truncated" in result.reason
    assert "inside module loprop" in result.reason


def test_replayed_output_for_another_geometry_is_rejected(tmp_path):
    job = h2o_job()
    moved = h2o_job(coordinates=((0.0, 0.0, 0.2),) + job.coordinates[1:])
    result = OpenMolcasLoProp(H2O_SETTINGS, launcher=ReplayLauncher(H2O_LOG.read_text())).run(
        moved, tmp_path
    )
    assert result.status == "failed"
    assert "atom 0: LoProp domain O1 centre is" in result.reason


def test_replayed_output_with_wrong_charge_is_rejected(tmp_path):
    job = h2o_job(charge=-2)
    result = OpenMolcasLoProp(H2O_SETTINGS, launcher=ReplayLauncher(H2O_LOG.read_text())).run(
        job, tmp_path
    )
    assert result.status == "failed"
    assert "charges sum to 0.0000 but the molecule's charge is -2" in result.reason


def test_impossible_charge_is_an_input_failure_before_any_launch(tmp_path):
    launcher = ReplayLauncher(H2O_ODD_LOG.read_text())
    result = OpenMolcasLoProp(H2O_SETTINGS, launcher=launcher).run(h2o_job(charge=1), tmp_path)
    assert (result.status, result.failure_kind) == ("failed", "input")
    assert "multiplicity 1 is impossible with 9 electrons (charge 1)" in result.reason
    assert launcher.calls == []


def test_missing_output_is_infrastructure(tmp_path):
    class SilentLauncher:
        def launch(self, program, args, workdir, stdout):
            return LaunchOutcome(0, 0.0, stdout)

    result = OpenMolcasLoProp(launcher=SilentLauncher()).run(ethane_job(), tmp_path)
    assert result.status == "failed" and result.failure_kind == "infrastructure"
    assert "loprop.log missing" in result.reason


# --- MolcasProxy: the ligand proxy calculator -----------------------------------------

METHOXIDE_LOG = MOLCAS_FIX / "real_methoxide_pbe_ano-r2_loprop.log"  # GFN2-xTB geometry
XTB_O1 = (
    -0.74558329,
    0.58769268,
    6.21499963,
)  # O1 as printed there: charge, dipole, polarizability
METHOXIDE_RDKIT_LOG = MOLCAS_FIX / "real_methoxide_rdkitgeom_pbe_ano-r2_loprop.log"


def test_molcas_proxy_gives_the_donor_loprop_values_of_a_real_run(tmp_path):
    from calculators import proxy_xtb
    from calculators.proxy_molcas import MolcasProxy

    launcher = ReplayLauncher(METHOXIDE_LOG.read_text())
    calc = MolcasProxy(launcher=launcher, scratch_root=tmp_path)
    res = calc.run("[O-]C")
    assert res.ok, res.reason
    # O1 as printed in the real output: Total charge, Dipole magnitude, Isotropic Polarizability
    assert res.values["charge"] == pytest.approx(XTB_O1[0], abs=1e-9)
    assert res.values["dipole"] == pytest.approx(XTB_O1[1], abs=1e-8)
    assert res.values["polarizability"] == pytest.approx(XTB_O1[2], abs=1e-9)
    assert res.values["atomic_number"] == 8 and res.values["label"] == "O1"
    shared = ("charge", "dipole", "polarizability", "atomic_number")
    assert all(res.units[k] == proxy_xtb.UNITS[k] for k in shared)
    assert (res.calculator, res.key) == ("proxy-openmolcas-loprop", key_for(calc, "[O-]C"))
    assert res.workdir == str(tmp_path / res.key)
    assert res.program_versions["openmolcas"] == "v22.10"
    assert {"rdkit", "tblite"} <= set(res.program_versions)
    assert res.method == (
        "OpenMolcas v22.10 KS-DFT PBE/ANO-R2 RICD + LoProp on the free ligand, "
        "RDKit ETKDGv3/MMFF94 then GFN2-xTB gas-phase optimised geometry"
    )
    [call] = launcher.calls
    assert call.program == "env" and call.args[-1] == "loprop.input"
    written = tmp_path / res.key
    assert (written / "loprop.input").read_text() == (
        MOLCAS_FIX / "real_methoxide_pbe_ano-r2_loprop.input"
    ).read_text()
    xyz = (written / "loprop.xyz").read_text().split("\n")
    assert xyz[0] == "5" and [row.split()[0] for row in xyz[2:7]] == ["O", "C", "H", "H", "H"]


def test_each_geometry_recipe_replays_only_its_own_real_output(tmp_path):
    from calculators.proxy_molcas import MolcasProxy, MolcasProxyRdkitGeometry

    rdkit = MolcasProxyRdkitGeometry(launcher=ReplayLauncher(METHOXIDE_RDKIT_LOG.read_text()))
    res = rdkit.run("[O-]C", tmp_path / "rdkit")
    assert res.ok, res.reason
    assert res.values["charge"] == pytest.approx(-0.78454783, abs=1e-9)
    assert res.values["polarizability"] == pytest.approx(6.39124847, abs=1e-9)
    assert res.method.endswith("RDKit ETKDGv3/MMFF94 geometry")
    # the other recipe's output belongs to another geometry: the centre check rejects it
    crossed = MolcasProxy(launcher=ReplayLauncher(METHOXIDE_RDKIT_LOG.read_text())).run(
        "[O-]C", tmp_path / "x"
    )
    assert crossed.status == "failed" and "centre is" in crossed.reason


def test_xtb_optimisation_that_moves_a_proton_is_a_failed_row_before_any_launch(tmp_path):
    from calculators.proxy_molcas import MolcasProxy

    launcher = ReplayLauncher(METHOXIDE_LOG.read_text())
    # the OH proton moves onto the aziridinide N in the gas-phase GFN2-xTB optimisation
    res = MolcasProxy(launcher=launcher).run("[N-]1C(C1C)CO", tmp_path / "w")
    assert (res.status, res.failure_kind) == ("failed", "chemistry")
    assert res.reason == (
        "ligand geometry: GFN2-xTB optimisation changed the bonding "
        "(new bonds N1-H14; lost bonds O6-H14)"
    )
    assert launcher.calls == []


def test_molcas_proxy_rejects_the_output_of_another_molecule(tmp_path):
    from calculators.proxy_molcas import MolcasProxy

    res = MolcasProxy(launcher=ReplayLauncher(H2O_LOG.read_text())).run("[O-]C", tmp_path / "w")
    assert (res.status, res.failure_kind) == ("failed", "chemistry")
    assert "3 atomic domains but the geometry has 5" in res.reason
    assert res.workdir == str(tmp_path / "w") and res.values == {} and res.units == {}


def test_molcas_proxy_real_noconv_output_is_a_failed_row(tmp_path):
    from calculators.proxy_molcas import MolcasProxy

    res = MolcasProxy(launcher=ReplayLauncher(H2O_NOCONV_LOG.read_text(), 96)).run(
        "[O-]C", tmp_path / "w"
    )
    assert (res.status, res.failure_kind) == ("failed", "chemistry")
    assert res.reason == (
        "pymolcas exited 96: SCF not converged after 2 iterations "
        "(OpenMolcas rc=_RC_NOT_CONVERGED_)"
    )


def test_molcas_proxy_name_and_version_are_fixed_per_class():
    from calculators.proxy_molcas import MolcasProxy, MolcasProxyRdkitGeometry

    with pytest.raises(TypeError):
        MolcasProxy(version="3")
    with pytest.raises(TypeError):
        MolcasProxy(name="other")
    smiles = "[O-]CC"
    xtb, rdkit = MolcasProxy(), MolcasProxyRdkitGeometry()
    assert (xtb.name, xtb.version) == ("proxy-openmolcas-loprop", "2")
    assert rdkit.name != xtb.name and key_for(xtb, smiles) != key_for(rdkit, smiles)
    assert "GFN2-xTB" in xtb.method and "GFN2-xTB" not in rdkit.method
    # settings change the key; resources, launcher and scratch do not
    assert key_for(MolcasProxy(LoPropSettings(basis="ANO-R1")), smiles) != key_for(xtb, smiles)
    other = MolcasProxy(resources=MolcasResources(8000, 4), scratch_root=Path("/elsewhere"))
    assert key_for(other, smiles) == key_for(xtb, smiles) == key_for(xtb, "[O-][CH2]C")
