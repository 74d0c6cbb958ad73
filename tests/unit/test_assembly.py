"""Complex assembly (molSimplify), geometry checks, structural features and GFN2 relaxation."""

from __future__ import annotations

import dataclasses
import math
import os
import re

import numpy as np
import pytest
from ase.io import read

from calculators import assembly, structure
from calculators.base import CalculationFailed
from gauss.chem import LigandError


@pytest.fixture(scope="module")
def built() -> dict[str, assembly.Complex]:
    """A few complexes built once per module (each build ~0.2 s, first import ~1.3 s)."""
    return {smi: assembly.assemble(smi) for smi in ("[O-]CC", "n1ccccc1", "NC", "NC(C)=O")}


def _metal_neighbours(cx: assembly.Complex, cutoff: float = 2.7) -> list[int]:
    """Heavy atoms bonded to the metal (second-shell atoms start at ~2.75 A)."""
    d = np.linalg.norm(cx.coordinates - cx.coordinates[cx.metal], axis=1)
    return [int(i) for i in np.flatnonzero(d < cutoff) if i != cx.metal and cx.elements[i] != "H"]


@pytest.mark.parametrize(
    ("smiles", "charge", "donor", "n_atoms", "n_h"),
    [
        ("[O-]CC", 1, "O", 1 + 15 + 2 * 8, 10 + 2 * 5),
        ("n1ccccc1", 3, "N", 1 + 15 + 2 * 11, 10 + 2 * 5),
        ("NC", 3, "N", 1 + 15 + 2 * 7, 10 + 2 * 5),
        ("NC(C)=O", 3, "N", 1 + 15 + 2 * 9, 10 + 2 * 5),  # amide N-H kept (-keepHs)
    ],
)
def test_assembled_pentagonal_bipyramid(built, smiles, charge, donor, n_atoms, n_h):
    cx = built[smiles]
    assert cx.charge == charge
    assert cx.multiplicity == 6 and cx.elements[cx.metal] == "Dy"
    assert cx.n_atoms == n_atoms and cx.elements.count("H") == n_h
    assert sorted(_metal_neighbours(cx)) == sorted([*cx.waters, *cx.donors])
    assert [cx.elements[i] for i in cx.donors] == [donor, donor]
    assert all(cx.elements[i] == "O" for i in cx.waters)
    xyz = cx.coordinates
    for o in cx.waters:
        assert structure.distance(xyz[cx.metal], xyz[o]) == pytest.approx(2.40, abs=0.05)
    feats = cx.features()
    assert list(feats) == list(structure.FEATURE_NAMES)
    assert feats["mpp"] < 1e-3 and feats["sdp"] < 1e-3
    assert feats["angle_lml"] == pytest.approx(180.0, abs=1.0)
    assert feats["donor_z"] == {"O": 8, "N": 7}[donor]
    assert abs(structure.plane_deviations(xyz[[cx.metal, *cx.waters]])).max() < 1e-3


@pytest.mark.parametrize("smiles", ["NC", "NC(C)=O"])
def test_neutral_n_donor_keeps_its_h(built, smiles):
    # molSimplify's default strips one H from an amide N and makes it an anion
    cx = built[smiles]
    assert cx.charge == 3
    n = cx.donors[0]
    h_on_n = [
        i
        for i, el in enumerate(cx.elements)
        if el == "H" and structure.distance(cx.coordinates[i], cx.coordinates[n]) < 1.2
    ]
    assert len(h_on_n) == 2


def test_yttrium_analogue():
    cx = assembly.assemble("[O-]CC", metal="Y")
    assert cx.elements[cx.metal] == "Y" and cx.metal_symbol == "Y"
    assert cx.multiplicity == 1 and cx.charge == 1
    assert cx.features()["angle_lml"] == pytest.approx(180.0, abs=1.0)


@pytest.mark.parametrize("smiles", ["OC(=O)C#N", "[O-]C(C)=N"])
def test_shell_metacharacters_stay_data(smiles, tmp_path, monkeypatch):
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    cx = assembly.assemble(smiles)
    assert os.getcwd() == str(cwd)
    assert list(cwd.iterdir()) == []
    # molSimplify's only side effect is its config file in $HOME
    assert {p.name for p in home.iterdir()} <= {".molSimplify"}
    assert cx.elements.count("N") == 2 and cx.elements.count("C") == 4
    assert cx.charge == (3 if smiles.startswith("OC") else 1)


@pytest.mark.parametrize(
    ("smiles", "named"),
    [("C1CC", "C1CC"), ("CCO", "CCO"), ("", "''"), ("[NH4+]", "[NH4+]")],
)
def test_bad_ligand_named(smiles, named):
    with pytest.raises(LigandError, match=re.escape(named)):
        assembly.assemble(smiles)


def test_unknown_metal():
    with pytest.raises(ValueError, match="Fe"):
        assembly.assemble("[O-]CC", metal="Fe")


def test_multi_fragment_ligand_is_input_error():
    with pytest.raises(CalculationFailed) as err:
        assembly.assemble("[O-]C.C")
    assert err.value.kind == "input"


# --- checks catch broken geometries ----------------------------------------------------------


def _rebuild(cx: assembly.Complex, xyz: np.ndarray, smiles: str | None = None, elements=None):
    """Re-identify and check an edited geometry the way relax() does."""
    new = assembly.complex_from_geometry(
        smiles or cx.ligand_smiles, cx.metal_symbol, elements or cx.elements, xyz, "edited"
    )
    assembly.check_geometry(new)
    return new


def test_unedited_geometry_passes(built):
    cx = built["[O-]CC"]
    again = _rebuild(cx, np.array(cx.coordinates))
    assert again.donors == cx.donors and again.waters == cx.waters


def _water_h(cx: assembly.Complex) -> int:
    return next(i for i in cx.fragments[0] if cx.elements[i] == "H")


def _proton_to_ligand(cx: assembly.Complex, xyz: np.ndarray) -> None:
    o_w, o_l = cx.waters[0], cx.donors[0]
    direction = xyz[o_w] - xyz[o_l]
    xyz[_water_h(cx)] = xyz[o_l] + 0.98 * direction / np.linalg.norm(direction)


def _proton_far_away(cx: assembly.Complex, xyz: np.ndarray) -> None:
    xyz[_water_h(cx)] = xyz[cx.metal] + np.array([0.0, 0.0, 9.0])  # bonded to nothing


def _water_out_of_plane(cx: assembly.Complex, xyz: np.ndarray) -> None:
    _, normal = structure.fit_plane(xyz[[cx.metal, *cx.waters]])
    xyz[list(cx.fragments[0])] += 0.8 * normal


def _carbon_on_a_water(cx: assembly.Complex, xyz: np.ndarray) -> None:
    carbon = next(i for i in cx.fragments[5] if cx.elements[i] == "C")
    xyz[carbon] = xyz[cx.waters[0]] + [0.0, 0.0, 0.5]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_proton_to_ligand, "proton transfer"),
        # a relaxation that pulled a proton off gives a failed row, not a crash
        (_proton_far_away, r"hydrogen atoms \[\d+\] \(1-based\) are bonded to no heavy atom"),
        (_water_out_of_plane, "coplanar"),
        (_carbon_on_a_water, "clash"),
    ],
    ids=["proton-transfer", "detached-proton", "water-out-of-plane", "clash"],
)
def test_broken_ethoxide_geometry_detected(built, edit, match):
    cx = built["[O-]CC"]
    xyz = np.array(cx.coordinates)
    edit(cx, xyz)
    with pytest.raises(CalculationFailed, match=match):
        _rebuild(cx, xyz)


def test_stripped_n_h_detected(built):
    cx = built["NC"]
    n = cx.donors[0]
    h = next(
        i
        for i, el in enumerate(cx.elements)
        if el == "H" and structure.distance(cx.coordinates[i], cx.coordinates[n]) < 1.2
    )
    keep = [i for i in range(cx.n_atoms) if i != h]
    elements = tuple(cx.elements[i] for i in keep)
    with pytest.raises(CalculationFailed, match="stripped"):
        _rebuild(cx, np.array(cx.coordinates)[keep], elements=elements)


def _rotate_fragment(cx, frag_index: int, degrees: float) -> np.ndarray:
    """Rotate one fragment rigidly about an axis through the metal, perpendicular to M-L."""
    xyz = np.array(cx.coordinates)
    centre = xyz[cx.metal]
    axis_ml = xyz[cx.donors[0]] - centre
    perp = np.cross(axis_ml, [1.0, 0.0, 0.0])
    if np.linalg.norm(perp) < 1e-6:
        perp = np.cross(axis_ml, [0.0, 1.0, 0.0])
    k = perp / np.linalg.norm(perp)
    t = math.radians(degrees)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rot = np.eye(3) + math.sin(t) * kx + (1 - math.cos(t)) * kx @ kx
    idx = list(cx.fragments[frag_index])
    xyz[idx] = (xyz[idx] - centre) @ rot.T + centre
    return xyz


def test_bent_axis_detected(built):
    cx = built["[O-]CC"]
    xyz = _rotate_fragment(cx, 5, 30.0)  # first ligand: L-M-L becomes ~150 deg
    with pytest.raises(CalculationFailed, match="L-M-L angle"):
        _rebuild(cx, xyz)


def test_contact_between_fragments_detected(built):
    # relax() checks a new geometry against the labelling it started from, like this
    cx = built["[O-]CC"]
    xyz = np.array(cx.coordinates)
    carbon = next(i for i in cx.fragments[5] if cx.elements[i] == "C")
    xyz[carbon] = xyz[cx.waters[0]] + [0.0, 0.0, 1.5]
    with pytest.raises(CalculationFailed, match="different ligands are 1.50 A apart"):
        assembly.check_geometry(dataclasses.replace(cx, coordinates=xyz))


def test_wrong_isomer_detected():
    propoxide = assembly.assemble("[O-]CCC")
    with pytest.raises(CalculationFailed, match="do not match L's SMILES"):
        _rebuild(propoxide, np.array(propoxide.coordinates), smiles="[O-]C(C)C")


def test_wrong_donor_detected():
    via_n = assembly.assemble("NCCO")
    with pytest.raises(CalculationFailed, match=r"Dy-O\d+ is [\d.]+ A, outside"):
        _rebuild(via_n, np.array(via_n.coordinates), smiles="OCCN")


def test_chelation_detected():
    acetate = assembly.assemble("[O-]C(C)=O")
    xyz = np.array(acetate.coordinates)
    donor, metal = acetate.donors[0], acetate.metal
    distal = next(i for i in acetate.fragments[5] if acetate.elements[i] == "O" and i != donor)
    axis = (xyz[donor] - xyz[metal]) / np.linalg.norm(xyz[donor] - xyz[metal])
    side = np.cross(axis, [1.0, 0.0, 0.0])
    side /= np.linalg.norm(side)
    t = math.radians(30.0)
    xyz[distal] = xyz[metal] + 2.5 * (math.cos(t) * axis + math.sin(t) * side)
    with pytest.raises(CalculationFailed, match="not monodentate"):
        assembly.check_geometry(dataclasses.replace(acetate, coordinates=xyz))


@pytest.mark.parametrize("smiles", ["N1(CC)CCCC1=O", "N1(C(=O)C(N)=O)CC1", "NC(C#N)C(C)C#N"])
def test_misaligned_n_donors_are_reoriented(smiles):
    # molSimplify points a C or H of these N donors at the metal (1.3-2.4 A from Dy); the
    # lone-pair re-orientation must leave the donor as the closest atom of each L
    cx = assembly.assemble(smiles)
    xyz = cx.coordinates
    for frag, donor in zip(cx.fragments[5:], cx.donors, strict=True):
        d_donor = structure.distance(xyz[cx.metal], xyz[donor])
        assert d_donor == pytest.approx(2.42, abs=0.05)
        others = [structure.distance(xyz[cx.metal], xyz[i]) for i in frag if i != donor]
        assert min(others) > d_donor
    assert cx.features()["angle_lml"] == pytest.approx(180.0, abs=0.5)


# --- XYZ export ------------------------------------------------------------------------------


def test_xyz_round_trip(built, tmp_path):
    cx = built["n1ccccc1"]
    path = cx.write_xyz(tmp_path / "cx.xyz")
    text = path.read_text()
    lines = text.splitlines()
    assert int(lines[0]) == cx.n_atoms and "charge=3" in lines[1]
    atoms = read(path)
    assert tuple(atoms.get_chemical_symbols()) == cx.elements
    np.testing.assert_allclose(atoms.positions, cx.coordinates, atol=1e-6)
    with pytest.raises(ValueError):
        cx.to_xyz("two\nlines")


def test_coordinates_read_only(built):
    with pytest.raises(ValueError):
        built["NC"].coordinates[0, 0] = 1.0


# --- structural features on hand-built shapes -------------------------------------------------


def _bipyramid(heights=(0.0,) * 5, r_water=2.4, axial=(2.3, 2.3), tilt=0.0) -> np.ndarray:
    """Metal at origin, five O on a regular pentagon (with z offsets), two axial donors."""
    theta = np.radians(72.0 * np.arange(5))
    waters = np.c_[r_water * np.cos(theta), r_water * np.sin(theta), heights]
    t = math.radians(tilt)
    top = [0.0, 0.0, axial[0]]
    bottom = [axial[1] * math.sin(t), 0.0, -axial[1] * math.cos(t)]
    return np.vstack([[0.0, 0.0, 0.0], waters, top, bottom])


ELEMENTS = ("Dy", "O", "O", "O", "O", "O", "N", "N")
WATERS, DONORS = (1, 2, 3, 4, 5), (6, 7)


def test_ideal_d5h_features():
    feats = structure.features(ELEMENTS, _bipyramid(), 0, WATERS, DONORS)
    assert feats == pytest.approx(
        {
            "donor_z": 7.0,
            "mpp": 0.0,
            "sdp": 0.0,
            "angle_lml": 180.0,
            "dist_md_short": 2.3,
            "dist_md_long": 2.3,
        },
        abs=1e-9,
    )


def test_distorted_features_known_values():
    # heights a*cos(2*theta_k) are orthogonal to the pentagon's plane modes, so the fitted plane
    # stays z = 0: MPP = a/sqrt(2), SDP = a*(1 + cos 36 deg)
    a = 0.2
    heights = a * np.cos(2 * np.radians(72.0 * np.arange(5)))
    xyz = _bipyramid(heights, axial=(2.5, 2.2), tilt=20.0)
    feats = structure.features(ELEMENTS, xyz, 0, WATERS, DONORS)
    assert feats["mpp"] == pytest.approx(a / math.sqrt(2), rel=1e-9)
    assert feats["sdp"] == pytest.approx(a * (1 + math.cos(math.radians(36))), rel=1e-9)
    assert feats["angle_lml"] == pytest.approx(160.0, abs=1e-9)
    assert (feats["dist_md_short"], feats["dist_md_long"]) == pytest.approx((2.2, 2.5))


def test_planarity_invariant_under_rigid_motion():
    rng = np.random.default_rng(7)
    points = _bipyramid((0.2, -0.1, 0.05, -0.15, 0.1))[1:6]
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    moved = points @ q.T + rng.normal(size=3)
    assert structure.mpp(moved) == pytest.approx(structure.mpp(points), rel=1e-9)
    assert structure.sdp(moved) == pytest.approx(structure.sdp(points), rel=1e-9)
    assert structure.mpp(points) > 0.01


def test_features_refuse_mixed_donors():
    with pytest.raises(ValueError, match="differ"):
        structure.features(("Dy", *"OOOOO", "N", "O"), _bipyramid(), 0, WATERS, DONORS)


# --- relaxation ------------------------------------------------------------------------------


@pytest.mark.slow
def test_relax_keeps_plane_and_moves_donors(built):
    cx = built["[O-]CC"]
    relaxed = assembly.relax(cx)
    feats = relaxed.features()
    assert relaxed.method == "gfn2-xtb/alpb(water)" and relaxed.energy_ev is not None
    assert relaxed.donors == cx.donors and relaxed.waters == cx.waters
    assert feats["mpp"] < 1e-6 and feats["sdp"] < 1e-6
    assert feats["angle_lml"] > assembly.MIN_LML_ANGLE
    # an alkoxide binds tighter than molSimplify's fixed 2.40 A
    assert feats["dist_md_long"] < 2.30
    np.testing.assert_allclose(relaxed.coordinates[cx.metal], cx.coordinates[cx.metal])


def test_relax_failure_is_calculation_failed(built):
    with pytest.raises(CalculationFailed, match="not converged"):
        assembly.relax(built["[O-]CC"], steps=1)


def test_molsimplify_import_does_not_change_numpy_error_state():
    before = np.geterr()
    assembly.assemble("[O-]CC")
    assert np.geterr() == before
