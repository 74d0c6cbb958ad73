"""OpenMolcas LoProp calculator: writer, parsers and a replayed run on real OpenMolcas output.

Values asserted below were read by eye from the real files in tests/fixtures/openmolcas/
(see its README for provenance). Broken variants (truncated, overflowed, non-zero exit) are
cut from the real ethane excerpt here, so they keep its exact layout.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ase.units import Bohr

from calculators.base import CalculationFailed, LaunchOutcome, key_for
from calculators.openmolcas import (
    LoPropJob,
    LoPropSettings,
    LoPropTemplate,
    OpenMolcasLoProp,
    ano_r_basis,
    atom_proxy,
    input_text,
    parse_localized_properties,
    parse_loprop_charges,
    program_versions,
    xyz_text,
)

FIXTURES = Path(__file__).parent / "fixtures" / "openmolcas"
ETHANE_LOG = FIXTURES / "iochembd_molcas_dynamic_loprop_ethane_excerpt.log"
CHARGES_LOG = FIXTURES / "iochembd_molcas_loprop_charges_excerpt.log"

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


# --- "LoProp Charges per center" table ------------------------------------------------


def test_charges_table_real_values():
    centres = parse_loprop_charges(CHARGES_LOG.read_text())
    labels = [c.label for c in centres]
    assert labels == ["N1", "N2", "O1", "O2", "C1", "C2", "C3", "C4", "H1", "H2", "H3", "H4"]
    n1, o2, h4 = centres[0], centres[3], centres[-1]
    assert (n1.nuclear, n1.electronic, n1.total) == (7.0, -6.7339, 0.2661)
    assert (o2.electronic, o2.total) == (-8.5324, -0.5324)
    assert (h4.nuclear, h4.electronic, h4.total) == (1.0, -0.8523, 0.1477)


def test_charges_table_truncated():
    text = CHARGES_LOG.read_text()
    cut = text[: text.rindex("      Total")]
    with pytest.raises(CalculationFailed, match="truncated at centres"):
        parse_loprop_charges(cut)


def test_charges_table_missing(ethane_text):
    with pytest.raises(CalculationFailed, match="no 'LoProp Charges per center' table"):
        parse_loprop_charges(ethane_text)


# --- program versions -----------------------------------------------------------------


def test_program_versions_absent_in_excerpt(ethane_text):
    assert program_versions(ethane_text) == {}


def test_program_versions_from_banner_lines():
    # Layout of the "version $V$ / patch level $P$" lines of pymolcas' banner template.
    head = "   This run of MOLCAS is using the pymolcas driver\n\n"
    head += "            version 24.06\n        patch level 77-g7ee3604a8\n"
    assert program_versions(head) == {"openmolcas": "24.06", "openmolcas_patch": "77-g7ee3604a8"}


# --- input writer ---------------------------------------------------------------------


def test_input_has_sections_in_order_and_c1():
    text = input_text("loprop.xyz", -1, 1, LoPropSettings())
    lines = [ln.strip() for ln in text.splitlines()]
    order = [lines.index(s) for s in ("&GATEWAY", "&SEWARD", "&SCF", "&LOPROP")]
    assert order == sorted(order)
    for expected in ("Coord = loprop.xyz", "Basis = ANO-R2", "Group = C1", "RX2C"):
        assert expected in lines
    assert "KSDFT = PBE" in lines and "Charge = -1" in lines
    assert "UHF" not in lines and not any(ln.startswith("Spin") for ln in lines)
    assert "nofield" not in text.lower()  # polarizabilities need the finite-field runs


def test_input_open_shell_and_options():
    settings = LoPropSettings(basis="O.ANO-R...4s3p2d1f.", relativistic=None, bond=0.0)
    lines = [ln.strip() for ln in input_text("x.xyz", 0, 3, settings).splitlines()]
    assert "UHF" in lines and "Spin = 3" in lines
    assert "Basis = O.ANO-R...4s3p2d1f." in lines and "Bond = 0.0" in lines
    assert "RX2C" not in lines


def test_input_rejects_multiline_settings():
    with pytest.raises(ValueError, match="one non-empty line"):
        input_text("x.xyz", 0, 1, LoPropSettings(basis="ANO-R2\n&RASSCF"))


def test_regression_inputs_show_nofield_removes_polarizabilities():
    """Real OpenMolcas tests: 014 (NoField) checks no LOPROP_A, 071 (field) checks 36."""
    nh3 = (FIXTURES / "test_standard_014.input").read_text()
    h2o = (FIXTURES / "test_standard_071.input").read_text()
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
    assert (template.program, args, template.output_name()) == (
        "pymolcas",
        ["loprop.input"],
        "loprop.log",
    )
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


# --- full run through base.run_program with a replayed real output --------------------


@dataclass
class ReplayLauncher:
    """Stands in for pymolcas: copies a stored output to the stdout path."""

    output: str
    returncode: int = 0
    calls: list = field(default_factory=list)

    def launch(self, program, args, workdir, stdout):
        self.calls.append((program, list(args), sorted(p.name for p in workdir.iterdir())))
        stdout.write_text(self.output)
        return LaunchOutcome(self.returncode, 0.0, stdout)


def test_replayed_run_gives_ok_result(tmp_path, ethane_text):
    launcher = ReplayLauncher(ethane_text)
    result = OpenMolcasLoProp(launcher=launcher).run(ethane_job(), tmp_path)
    assert result.ok, result.reason
    assert "OpenMolcas" in result.method and "LoProp" in result.method
    assert launcher.calls == [
        ("pymolcas", ["loprop.input"], ["loprop.input", "loprop.job.json", "loprop.xyz"])
    ]
    values = result.values
    assert (values["label"], values["atomic_number"]) == ("C1", 6)
    assert values["charge"] == pytest.approx(-0.37899941, abs=1e-9)
    assert values["dipole"] == pytest.approx(0.09892881, abs=1e-8)
    assert values["polarizability"] == pytest.approx(1.37562510, abs=1e-9)
    assert values["atom_charges"][1] == pytest.approx(0.12633167, abs=1e-9)
    assert result.units["polarizability"] == "bohr^3" and result.units["dipole"] == "e*bohr"
    assert result.units["atomic_number"] == "1"
    assert result.program_versions == {}
    assert result.to_record()["status"] == "ok"


def test_replayed_truncated_run_fails_with_cause(tmp_path, ethane_text):
    cut = _cut_before(ethane_text, " ATOMIC DOMAIN: C5")
    result = OpenMolcasLoProp(launcher=ReplayLauncher(cut, returncode=1)).run(
        ethane_job(), tmp_path
    )
    assert result.status == "failed" and result.failure_kind == "chemistry"
    assert "pymolcas exited 1" in result.reason and "truncated" in result.reason
    assert "last domain printed: C5,C1" in result.reason


def test_replayed_output_for_another_geometry_is_rejected(tmp_path, ethane_text):
    swapped = ethane_job()
    swapped = ethane_job(
        elements=swapped.elements[1:] + swapped.elements[:1],
        coordinates=swapped.coordinates[1:] + swapped.coordinates[:1],
    )
    result = OpenMolcasLoProp(launcher=ReplayLauncher(ethane_text)).run(swapped, tmp_path)
    assert result.status == "failed"
    assert "atom 0: LoProp domain C1 is not a H" in result.reason


def test_replayed_output_with_wrong_charge_is_rejected(tmp_path, ethane_text):
    job = ethane_job(charge=-2)
    result = OpenMolcasLoProp(launcher=ReplayLauncher(ethane_text)).run(job, tmp_path)
    assert result.status == "failed"
    assert "charges sum to 0.0000 but the molecule's charge is -2" in result.reason


def test_missing_output_is_infrastructure(tmp_path):
    class SilentLauncher:
        def launch(self, program, args, workdir, stdout):
            return LaunchOutcome(0, 0.0, stdout)

    result = OpenMolcasLoProp(launcher=SilentLauncher()).run(ethane_job(), tmp_path)
    assert result.status == "failed" and result.failure_kind == "infrastructure"
    assert "loprop.log missing" in result.reason
