"""ORCA templates and parsers, checked on a real ORCA 6.1.1 output and documented fixtures."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from calculators import orca
from calculators.base import CalculationFailed, key_for, run_program
from calculators.orca import (
    CasscfJob,
    CasscfSocTemplate,
    Geometry,
    KramersCalculator,
    OptJob,
    OptTemplate,
    Resources,
)
from tests.conftest import FIXTURES
from tests.doubles import ReplayLauncher

FIX = FIXTURES / "orca"
REAL = "co_plus_soc_min.out"
DY = "dy_sextets_synthetic.out"
DY_GAPS = [152.37, 231.84, 287.91, 344.62, 402.27, 468.05, 541.73]  # README: lowest 8 KDs
WATER_RING = [(1, 4), (4, 7), (7, 10), (10, 13), (13, 1)]


def read(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def y_geometry() -> Geometry:
    """[Y(H2O)5(OCH3)2]+ read back from the optimisation fixture (waters O at 1,4,7,10,13)."""
    return orca.final_geometry(read("y_opt_synthetic.out"))


@pytest.fixture(scope="module")
def dy_geometry(y_geometry: Geometry) -> Geometry:
    return orca.swap_metal(y_geometry, "Y", "Dy")


def reason_of(call, *args, **kwargs) -> CalculationFailed:
    with pytest.raises(CalculationFailed) as info:
        call(*args, **kwargs)
    return info.value


# --- the real CO+ output ----------------------------------------------------------------------


def test_real_output_has_both_qdpt_blocks_with_the_printed_numbers():
    blocks = orca.parse_qdpt_blocks(read(REAL))
    assert set(blocks) == {"CASSCF", "NEVPT2"}
    cas, nev = blocks["CASSCF"], blocks["NEVPT2"]
    assert len(cas.energies_cm) == len(nev.energies_cm) == 12
    assert cas.energies_cm[:5] == (0.0, 0.0, 29039.40, 29039.40, 56157.67)
    assert cas.energies_cm[-1] == 68208.10
    assert nev.energies_cm[2:8] == (27354.88, 27354.88, 56198.81, 56198.81, 56198.82, 56198.82)
    assert cas.lowest_eh == -112.30292085
    assert nev.lowest_eh == -112.42899054


def test_real_output_version(tmp_path):
    assert orca.orca_version(read(REAL)) == "6.1.1"
    assert orca.program_versions(tmp_path) == {}
    shutil.copyfile(FIX / REAL, tmp_path / "co.out")
    assert orca.program_versions(tmp_path) == {"orca": "6.1.1"}


def test_real_output_kramers_doublets_and_block_choice():
    text = read(REAL)
    auto = orca.parse_casscf_soc(text, n_doublets=6, block="auto")
    assert auto["qdpt_block"] == "NEVPT2"
    assert auto["kd_energies_cm"] == [0.0, 27354.88, 56198.81, 56198.82, 66471.24, 66471.26]
    cas = orca.parse_casscf_soc(text, n_doublets=2, block="CASSCF")
    assert cas["qdpt_block"] == "CASSCF"
    assert cas["gaps_cm"] == [29039.40]
    assert cas["so_states"] == 12
    assert cas["lowest_so_energy_eh"] == -112.30292085


def test_real_input_echo_gives_the_state_count():
    assert orca.echoed_so_states(read(REAL)) == 2 * 2 + 4 * 2  # mult 2,4 / nroots 2,2


def test_real_co_plus_has_too_few_states_for_dy():
    exc = reason_of(orca.parse_casscf_soc, read(REAL))
    assert "12 SO states" in exc.reason and "16" in exc.reason


def test_truncated_copy_is_rejected_as_truncated():
    text = read("co_plus_soc_min_truncated.out")
    exc = reason_of(orca.parse_casscf_soc, text, n_doublets=2)
    assert "TERMINATED NORMALLY" in exc.reason
    assert exc.kind == "infrastructure"
    cut = reason_of(orca.parse_qdpt_blocks, text)
    assert "cut short after 6 states" in cut.reason


# --- Dy-like fixture and failure signatures ---------------------------------------------------


def test_dy_fixture_gives_seven_gaps():
    values = orca.parse_casscf_soc(read(DY))
    assert values["gaps_cm"] == pytest.approx(DY_GAPS)
    assert values["kd_energies_cm"] == pytest.approx([0.0, *DY_GAPS])
    assert values["so_states"] == 126
    assert values["qdpt_block"] == "CASSCF"
    assert values["lowest_so_energy_eh"] == -12997.63554066


def test_requested_nevpt2_block_missing():
    exc = reason_of(orca.parse_casscf_soc, read(DY), block="NEVPT2")
    assert "NEVPT2" in exc.reason and exc.kind == "input"
    assert orca.parse_casscf_soc(read(DY), block="auto")["qdpt_block"] == "CASSCF"


def test_missing_qdpt_block():
    text = read(DY)
    start = text.index("CASSCF RELATIVISTIC PROPERTIES")
    end = text.index("-------------------------   ----", start)
    exc = reason_of(orca.parse_casscf_soc, text[:start] + text[end:])
    assert "no QDPT block" in exc.reason and exc.kind == "input"


def test_non_kramers_spectrum_is_rejected():
    text = read(DY).replace("   3:          152.37", "   3:          158.37", 1)
    exc = reason_of(orca.parse_casscf_soc, text)
    assert "states 2 and 3 differ by 6.00" in exc.reason
    assert "odd number" in reason_of(orca.kramers_doublets, [0.0, 0.0, 5.0]).reason
    assert orca.kramers_doublets([0.0, 0.01, 10.0, 10.0]) == pytest.approx([0.005, 10.0])


def test_state_count_must_match_the_input():
    text = read(DY).replace("nroots 21", "nroots 22", 1)
    exc = reason_of(orca.parse_casscf_soc, text)
    assert "126 SO states" in exc.reason and "give 132" in exc.reason


def test_casscf_not_converged_is_rejected_despite_qdpt_table():
    text = read("dy_sextets_noconv.out")
    assert len(orca.parse_qdpt_blocks(text)["CASSCF"].energies_cm) == 126
    exc = reason_of(orca.parse_casscf_soc, text)
    assert exc.reason.startswith("CASSCF not converged") and exc.kind == "chemistry"


def test_scf_signature_is_not_confused_with_casscf():
    exc = reason_of(orca.parse_opt_output, read("y_opt_scf_noconv.out"))
    assert exc.reason == "SCF not converged"
    trah = "   *        CASSCF NOT CONVERGED AFTER 783 CYCLES       *\n"
    assert reason_of(orca.check_errors, trah).reason.startswith("CASSCF")
    orca.check_errors("               *           SCF CONVERGED AFTER   4 CYCLES          *")


def test_out_of_memory_asks_for_more_maxcore():
    text = (  # real lines from fblockkit generated_yb3_sarc2_trah.out @ 232426df
        "Process 1: ERROR - OUT OF MEMORY !!!\nProcess 1: \n"
        "Process 1:     MINIMUM REQUIRED:  9345.2 MB\n"
        "Process 1:     MAXCORE:           2000.0 MB\n"
    )
    exc = reason_of(orca.check_errors, text)
    assert "9345.2 MB" in exc.reason and exc.kind == "input"


# --- input writers ----------------------------------------------------------------------------


def test_casscf_input_has_the_documented_keywords(dy_geometry):
    job = CasscfJob(dy_geometry, charge=1, resources=Resources(nprocs=16, maxcore_mb=8000))
    text = orca.casscf_soc_input(job)
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0].split()[:2] == ["!", "DKH-def2-TZVPP"]
    casscf = lines[lines.index("%casscf") : lines.index("* xyz 1 6")]
    for expected in ("nel 9", "norb 7", "mult 6,4,2", "nroots 21,224,490", "rel", "DoSOC true"):
        assert expected in casscf
    assert 'newgto Dy "SARC2-DKH-QZVP" end' in lines
    assert ["%rel", "method DKH", "picturechange 2", "end"] == lines[3:7]
    assert "%maxcore 8000" in lines and "%pal nprocs 16 end" in lines
    assert lines[-1] == "*" and lines[lines.index("* xyz 1 6") + 1].startswith("Dy ")
    assert orca.so_state_count(orca.mult_blocks(False)) == 21 * 6 + 224 * 4 + 490 * 2


def test_sextets_only_input(dy_geometry):
    text = orca.casscf_soc_input(CasscfJob(dy_geometry, charge=1), sextets_only=True)
    assert "\n  mult 6\n  nroots 21\n" in text
    assert orca.so_state_count(orca.mult_blocks(True)) == 126


def test_casscf_input_needs_one_dy(y_geometry):
    exc = reason_of(orca.casscf_soc_input, CasscfJob(y_geometry, charge=1))
    assert "exactly one Dy" in exc.reason and exc.kind == "input"


def test_constrained_opt_input_uses_y_and_zero_based_ring_angles(dy_geometry):
    text = orca.opt_input(OptJob(dy_geometry, charge=1), constrained=True)
    assert "Dy" not in text
    head = text.splitlines()[0].split()
    assert {"BP86", "D3BJ", "DKH-def2-TZVPP", "TightSCF", "Opt"} <= set(head)
    assert f'newgto Y "{orca.Y_BASIS}" end' in text
    assert "method DKH" in text and "picturechange 2" in text
    rows = re.findall(r"\{ A (\d+) (\d+) (\d+) (\S+) C \}", text)
    assert len(rows) == 5
    assert {(int(a), int(b)) for a, _, b, _ in rows} == set(WATER_RING)
    assert {centre for _, centre, _, _ in rows} == {"0"}
    assert {value for *_, value in rows} == {"72.0"}


def test_free_opt_input_from_step_one_geometry(y_geometry):
    values = orca.parse_opt_output(read("y_opt_synthetic.out"))
    step2 = OptJob(Geometry.of(values["elements"], values["coords"]), charge=1)
    text = orca.opt_input(step2, constrained=False)
    assert "%geom" not in text and "Constraints" not in text
    assert (
        "* xyz 1 1\nY       0.00000000      0.00000000      0.00000000\nO       2.37100000" in text
    )


def test_ring_order_makes_neighbours_adjacent(y_geometry):
    ring = orca.ring_order(y_geometry, 0, (7, 1, 13, 4, 10))
    assert ring[0] == 7
    pos = y_geometry.positions()
    for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
        u, v = pos[a] - pos[0], pos[b] - pos[0]
        cosine = u @ v / np.linalg.norm(u) / np.linalg.norm(v)
        assert np.degrees(np.arccos(cosine)) == pytest.approx(72.0, abs=1e-3)  # 6-decimal print


def test_water_oxygens_and_explicit_indices(y_geometry):
    assert orca.water_oxygens(y_geometry, 0) == (1, 4, 7, 10, 13)
    shuffled = orca.opt_input(OptJob(y_geometry, 1, equatorial_o=(13, 7, 1, 10, 4)), True)
    assert shuffled.count(" 72.0 C }") == 5
    bad = reason_of(orca.opt_input, OptJob(y_geometry, 1, equatorial_o=(1, 2, 4, 7, 10)), True)
    assert "five equatorial water O" in bad.reason


def test_geometry_rejects_non_elements():
    assert "not element symbols" in reason_of(Geometry.of, ["c1ccccc1"], [[0, 0, 0]]).reason
    assert reason_of(Geometry.of, ["O", "H"], [[0, 0, 0]]).kind == "input"
    assert "three coordinates" in reason_of(Geometry.of, ["O"], [[0, 0]]).reason


def test_templates_write_name_inp_and_return_it(tmp_path, y_geometry):
    job = OptJob(y_geometry, charge=1)
    assert OptTemplate(constrained=True, name="step1").write_inputs(job, tmp_path) == ["step1.inp"]
    assert (tmp_path / "step1.inp").read_text() == orca.opt_input(job, constrained=True)
    bad = reason_of(OptTemplate(name="CC(=O)[O-]").write_inputs, job, tmp_path)
    assert "unsafe ORCA job name" in bad.reason


# --- optimisation output ----------------------------------------------------------------------


def test_opt_output_final_geometry_and_energy(tmp_path):
    shutil.copyfile(FIX / "y_opt_synthetic.out", tmp_path / "y_opt.out")
    values = OptTemplate(constrained=True).parse(tmp_path)
    assert values["converged"] is True
    assert values["energy_eh"] == -3995.412345678912
    assert len(values["elements"]) == 26 and values["elements"][0] == "Y"
    assert values["coords"][1] == [2.371, 0.0, 0.0]  # last block, not cycle 1 (2.420)


def test_opt_failures():
    maxiter = read("y_opt_maxiter.out")
    assert "maximum number of cycles" in reason_of(orca.parse_opt_output, maxiter).reason
    no_banner = maxiter.replace("The optimization did not converge", "", 1)
    assert "HAS CONVERGED" in reason_of(orca.parse_opt_output, no_banner).reason
    converged = read("y_opt_synthetic.out")
    cut = reason_of(orca.parse_opt_output, converged[: converged.index("HURRAY")])
    assert cut.kind == "infrastructure"


# --- full runs through base.run_program with a replay launcher -------------------------------


def test_replay_dy_run_gives_ok_result(tmp_path, dy_geometry):
    launcher = ReplayLauncher(FIX / DY)
    calc = KramersCalculator(template=CasscfSocTemplate(sextets_only=True), launcher=launcher)
    result = calc.run(CasscfJob(dy_geometry, charge=1), tmp_path)
    assert result.ok, result.reason
    assert result.method.startswith("ORCA SA-CASSCF(9,7) mult 6 ")
    assert result.values["gaps_cm"] == pytest.approx(DY_GAPS)
    assert result.units["gaps_cm"] == "cm-1"
    assert result.program_versions == {"orca": "6.1.1"}
    assert [(call.program, call.args) for call in launcher.calls] == [
        ("orca", ["dy_casscf_soc.inp"])
    ]


def test_replay_real_co_plus_output(tmp_path, dy_geometry):
    template = CasscfSocTemplate(n_doublets=6, block="NEVPT2")
    calc = KramersCalculator(template=template, launcher=ReplayLauncher(FIX / REAL))
    result = run_program(
        calc,
        template,
        CasscfJob(dy_geometry, 1),
        tmp_path,
        calc.launcher,
        orca.UNITS,
        orca.program_versions,
    )
    assert result.ok, result.reason
    assert "ORCA" in result.method and "NEVPT2" in result.method
    assert result.values["gaps_cm"] == [27354.88, 56198.81, 56198.82, 66471.24, 66471.26]


def test_replay_nonzero_exit_with_truncated_output(tmp_path, dy_geometry):
    launcher = ReplayLauncher(FIX / "co_plus_soc_min_truncated.out", returncode=1)
    result = KramersCalculator(launcher=launcher).run(CasscfJob(dy_geometry, 1), tmp_path)
    assert result.status == "failed"
    assert result.reason.startswith("orca exited 1: output truncated")
    assert result.failure_kind == "infrastructure"


def test_replay_not_converged_is_a_chemistry_failure(tmp_path, dy_geometry):
    launcher = ReplayLauncher(FIX / "dy_sextets_noconv.out")
    result = KramersCalculator(launcher=launcher).run(CasscfJob(dy_geometry, 1), tmp_path)
    assert not result.ok and result.failure_kind == "chemistry"
    assert "CASSCF not converged" in result.reason


def test_key_ignores_resources_but_not_geometry_or_method(dy_geometry):
    calc = KramersCalculator()
    small = CasscfJob(dy_geometry, 1, Resources(nprocs=1, maxcore_mb=1000))
    big = CasscfJob(dy_geometry, 1, Resources(nprocs=32, maxcore_mb=20000))
    assert key_for(calc, small) == key_for(calc, big)
    moved = Geometry(dy_geometry.elements, ((0.0, 0.0, 0.01), *dy_geometry.coords[1:]))
    assert key_for(calc, CasscfJob(moved, 1)) != key_for(calc, small)
    sextets = KramersCalculator(template=CasscfSocTemplate(sextets_only=True))
    assert key_for(sextets, small) != key_for(calc, small)
