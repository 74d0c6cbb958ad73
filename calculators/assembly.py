"""Build, check and optionally relax [M(H2O)5L2]^(3+2q) pentagonal bipyramids.

molSimplify's legacy generator places five waters in the equatorial plane and the two identical
ligands L on the axis, every M-L bond at 2.40 A (2.42 A for N). Its alignment of L is often
wrong for N donors, so each L is then turned rigidly about its donor to point its lone pair at
the metal. molSimplify's atom order is never trusted blindly: after every build or relaxation
the atoms are re-identified from the geometry (water fragments, ligand graphs matched against
RDKit's) and the shape is checked, so a silently wrong structure (stripped N-H, a proton moved
to an alkoxide, a ligand swapped for a dictionary entry) becomes a CalculationFailed with a
specific reason instead of a bad row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

import networkx as nx
import numpy as np
from ase.data import covalent_radii
from rdkit import Chem

from calculators import structure
from calculators.base import CalculationFailed
from gauss import chem

# Spin multiplicity of the M(III) ion: Dy(III) is 4f9 (S = 5/2), Y(III) is closed shell.
METAL_MULTIPLICITY = {"Dy": 6, "Y": 1}
METAL_OXSTATE = 3
N_WATERS = 5

# Geometry checks (angstrom, degrees).
MAX_PLANE_DEVIATION = 0.30  # metal + 5 water O from their least-squares plane
MIN_LML_ANGLE = 160.0
MIN_PAIR_DISTANCE = 0.70  # any two atoms
MIN_HEAVY_CONTACT = 1.60  # heavy atoms of different fragments (metal excluded)
METAL_DONOR_RANGE = (1.8, 3.2)  # every metal-O(water) and metal-donor bond
MAX_OH_WATER = 1.20  # a water O must keep two H this close
MIN_SECOND_DONOR = 2.75  # a ligand N/O other than the donor this close means chelation
BOND_SCALE = 1.25  # covalent bond if d < BOND_SCALE * (r_i + r_j)

# Rigid re-orientation of each L about its donor (lone pair towards the metal).
ORIENT_TILTS = (0.0, 15.0, 30.0)  # degrees between lone pair and the M-donor direction
ORIENT_SPINS = tuple(np.arange(0.0, 360.0, 15.0))  # degrees about the M-donor axis
PLANAR_DONOR_HEIGHT = 0.15  # angstrom of a 3-coordinate donor above its neighbours' plane

# molSimplify mutates process state (stdout, cwd, globals): one build at a time per process.
_MOLSIMPLIFY_LOCK = threading.Lock()


@dataclass(frozen=True, eq=False)
class Complex:
    """One [M(H2O)5L2] structure with the atoms that matter named by index."""

    ligand_smiles: str  # donor-first canonical SMILES of L (chem.ligand)
    metal_symbol: str
    elements: tuple[str, ...]
    coordinates: np.ndarray  # (n, 3) angstrom, read-only
    metal: int
    waters: tuple[int, ...]  # the five equatorial water O
    donors: tuple[int, int]  # coordinating atom of each L
    fragments: tuple[tuple[int, ...], ...]  # 5 waters then the 2 ligands (metal excluded)
    charge: int  # 3 + 2q
    multiplicity: int
    method: str
    energy_ev: float | None = None  # total energy when a method computed one

    def __post_init__(self) -> None:
        xyz = np.array(self.coordinates, dtype=float)
        xyz.setflags(write=False)
        object.__setattr__(self, "coordinates", xyz)

    @property
    def n_atoms(self) -> int:
        return len(self.elements)

    def features(self) -> dict[str, float]:
        """The six paper descriptors (structure.FEATURE_NAMES order)."""
        return structure.features(
            self.elements, self.coordinates, self.metal, self.waters, self.donors
        )

    def to_xyz(self, comment: str | None = None) -> str:
        """XYZ text; the default comment records what the file cannot (charge, spin, L)."""
        if comment is None:
            comment = (
                f"[{self.metal_symbol}(H2O)5L2] L={self.ligand_smiles} charge={self.charge} "
                f"multiplicity={self.multiplicity} method={self.method}"
            )
        if "\n" in comment:
            raise ValueError("an XYZ comment must be a single line")
        lines = [str(self.n_atoms), comment]
        for el, (x, y, z) in zip(self.elements, self.coordinates, strict=True):
            lines.append(f"{el:<2s} {x:14.8f} {y:14.8f} {z:14.8f}")
        return "\n".join(lines) + "\n"

    def write_xyz(self, path: str | Path, comment: str | None = None) -> Path:
        path = Path(path)
        path.write_text(self.to_xyz(comment))
        return path


# --- building ------------------------------------------------------------------------------


def _molsimplify_args(smiles: str, metal: str) -> dict[str, str]:
    """Legacy-generator arguments; waters first with -ligloc so the two L end up trans."""
    return {
        "-core": metal,
        "-geometry": "pbp",
        "-coord": "7",
        "-oxstate": str(METAL_OXSTATE),
        "-spin": str(METAL_MULTIPLICITY[metal]),
        "-lig": f"water,{smiles}",
        "-ligocc": f"{N_WATERS},2",
        "-smicat": "[[1]]",  # 1-based donor index in the SMILES ligand: always its first atom
        "-ligloc": "True",
        "-keepHs": "yes,yes",  # else an N-H donor loses its H and becomes an anion
        "-skipANN": "True",
    }


@functools.cache
def _molsimplify_generator() -> tuple[Callable, dict[str, str]]:
    """molSimplify's generator, imported without leaking its global numpy error state.

    Importing molSimplify calls np.seterr(all="raise") for the whole process, which turns
    harmless underflows elsewhere (e.g. scikit-learn's GP kernels) into exceptions. The
    process-wide setting is restored; molSimplify gets its own setting back inside each build.
    """
    saved = np.geterr()
    try:
        from molSimplify.Scripts.generator import startgen_pythonic
    finally:
        wanted = np.geterr()
        np.seterr(**saved)
    return startgen_pythonic, wanted


@contextlib.contextmanager
def _scratch_dir():
    """This process's molSimplify directory, emptied after each build but never removed.

    chdir is process-wide: a process another thread starts during a build (a Parsl block,
    a program) inherits this directory as its cwd, so it must outlive the build.
    """
    path = Path(tempfile.gettempdir()) / f"gauss-molsimplify-{os.getpid()}"
    path.mkdir(exist_ok=True)
    try:
        yield path
    finally:
        for item in path.iterdir():
            if item.is_dir():
                shutil.rmtree(item)
            else:
                item.unlink(missing_ok=True)


def _run_molsimplify(smiles: str, metal: str) -> tuple[list[str], np.ndarray, int]:
    """Elements, coordinates and molSimplify's charge, built in a throw-away directory.

    molSimplify prints a lot (Python stdout) and Open Babel warns on C++ stderr; both are
    silenced and the directory it runs in is emptied afterwards.
    """
    startgen_pythonic, numpy_errors = _molsimplify_generator()
    from openbabel import openbabel as ob

    args = _molsimplify_args(smiles, metal)
    log = io.StringIO()
    with (
        _MOLSIMPLIFY_LOCK,
        _scratch_dir() as tmp,
        contextlib.chdir(tmp),
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
        np.errstate(**numpy_errors),
    ):
        level = ob.obErrorLog.GetOutputLevel()
        ob.obErrorLog.SetOutputLevel(ob.obError)
        try:
            _, emsg, diag = startgen_pythonic(args, flag=False, write=False)
        except Exception as exc:  # molSimplify raises anything from deep inside
            raise CalculationFailed(
                f"molSimplify crashed on {smiles!r}: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            ob.obErrorLog.SetOutputLevel(level)
    if emsg or diag is None or getattr(diag, "mol", None) is None:
        raise CalculationFailed(f"molSimplify built nothing for {smiles!r}: {emsg or 'no mol'}")
    mol = diag.mol
    elements = [atom.symbol() for atom in mol.atoms]
    return elements, np.asarray(mol.coordsvect(), dtype=float), int(mol.charge)


def assemble(smiles: str, metal: str = "Dy") -> Complex:
    """Build and check [M(H2O)5L2]^(3+2q) for a donor-first ligand SMILES.

    Raises chem.LigandError for an unusable SMILES, CalculationFailed when the build or any
    geometry check fails.
    """
    if metal not in METAL_MULTIPLICITY:
        raise ValueError(f"metal must be one of {sorted(METAL_MULTIPLICITY)}, got {metal!r}")
    lig = chem.ligand(smiles)
    if "." in lig.smiles:
        raise CalculationFailed(f"ligand {smiles!r} has several fragments", "input")
    mol = chem.parse(lig.smiles)
    elements, xyz, ms_charge = _run_molsimplify(lig.smiles, metal)
    _check_composition(elements, mol, metal, smiles)
    labels = _identify(tuple(elements), xyz, metal, mol, _molsimplify_blocks(len(elements)))
    xyz = _orient_ligands(tuple(elements), xyz, labels)
    method = f"molsimplify-{version('molsimplify')}+lone-pair-aligned"
    cx = complex_from_geometry(lig.smiles, metal, elements, xyz, method)
    if ms_charge != cx.charge:
        raise CalculationFailed(
            f"molSimplify charge {ms_charge:+d} differs from expected {cx.charge:+d} for {smiles!r}"
        )
    check_geometry(cx)
    return cx


# --- identifying atoms from a geometry -----------------------------------------------------


def _formula(counts: Counter[str]) -> str:
    return "".join(f"{el}{counts[el]}" for el in sorted(counts))


def _expected_counts(mol: Chem.Mol, metal: str) -> Counter[str]:
    """Element counts of [M(H2O)5L2] with L given without explicit H."""
    counts: Counter[str] = Counter({metal: 1, "O": N_WATERS, "H": 2 * N_WATERS})
    for atom in mol.GetAtoms():
        counts[atom.GetSymbol()] += 2
        counts["H"] += 2 * atom.GetTotalNumHs()
    return counts


def _covalent_radius(element: str) -> float:
    """Cordero covalent radius (angstrom) as tabulated by ASE."""
    return float(covalent_radii[structure.atomic_number(element)])


def _bond_graph(
    elements: Sequence[str], xyz: np.ndarray, blocks: Sequence[Sequence[int]]
) -> nx.Graph:
    """Covalent bonds by scaled covalent radii, only between atoms of the same block."""
    graph = nx.Graph()
    for block in blocks:
        graph.add_nodes_from(block)
        for a, i in enumerate(block):
            for j in block[a + 1 :]:
                ri, rj = _covalent_radius(elements[i]), _covalent_radius(elements[j])
                if np.linalg.norm(xyz[i] - xyz[j]) < BOND_SCALE * (ri + rj):
                    graph.add_edge(i, j)
    return graph


def _heavy_graph(elements: Sequence[str], bonds: nx.Graph, atoms: Sequence[int]) -> nx.Graph:
    """Heavy-atom graph labelled with element and attached-H count, for matching to RDKit."""
    heavy = [i for i in atoms if elements[i] != "H"]
    graph = bonds.subgraph(heavy).copy()
    for i in heavy:
        n_h = sum(1 for j in bonds.neighbors(i) if elements[j] == "H")
        graph.nodes[i].update(element=elements[i], n_h=n_h)
    return graph


def _ligand_graph(mol: Chem.Mol) -> nx.Graph:
    """RDKit heavy-atom graph of L with the same labels; atom 0 is the donor."""
    graph = nx.Graph()
    for atom in mol.GetAtoms():
        graph.add_node(
            atom.GetIdx(), element=atom.GetSymbol(), n_h=atom.GetTotalNumHs(), donor=False
        )
    graph.nodes[0]["donor"] = True
    graph.add_edges_from((b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds())
    return graph


def _find_donor(fragment: nx.Graph, reference: nx.Graph, by_distance: Sequence[int]) -> int:
    """The fragment atom that maps onto L's donor (nearest the metal if symmetry gives several).

    Raises if the fragment is not L at all (bonds in 3D differ from the SMILES).
    """
    iso = nx.algorithms.isomorphism
    labels = ["element", "n_h", "donor"]
    plain = iso.categorical_node_match(labels[:2], [None, None])
    if not iso.GraphMatcher(reference, fragment, node_match=plain).is_isomorphic():
        raise CalculationFailed(
            "a ligand's bonds in 3D do not match L's SMILES (distorted or substituted ligand)"
        )
    flagged = iso.categorical_node_match(labels, [None] * 3)
    donor_element = reference.nodes[0]["element"]
    for candidate in by_distance:
        if fragment.nodes[candidate]["element"] != donor_element:
            continue
        for node in fragment.nodes:
            fragment.nodes[node]["donor"] = node == candidate
        if iso.GraphMatcher(reference, fragment, node_match=flagged).is_isomorphic():
            return candidate
    raise CalculationFailed("no atom of the ligand fragment maps onto L's donor")


def _check_waters(elements: Sequence[str], xyz: np.ndarray, waters: Sequence[int]) -> None:
    """Each water O keeps exactly two H within MAX_OH_WATER (catches proton transfer)."""
    hydrogens = np.array([i for i, el in enumerate(elements) if el == "H"])
    for o in waters:
        close = int(np.sum(np.linalg.norm(xyz[hydrogens] - xyz[o], axis=1) < MAX_OH_WATER))
        if close != 2:
            raise CalculationFailed(
                f"water O{o} has {close} H within {MAX_OH_WATER} A (proton transfer?)"
            )


class _Labels(NamedTuple):
    metal: int
    waters: tuple[int, ...]
    donors: tuple[int, int]
    fragments: tuple[tuple[int, ...], ...]
    neighbours: dict[int, list[int]]  # covalent neighbours of each donor


def _check_composition(elements: Sequence[str], mol: Chem.Mol, metal: str, smiles: str) -> None:
    """Element counts must be exactly M + 5 H2O + 2 L (catches a stripped donor N-H)."""
    expected = _expected_counts(mol, metal)
    found = Counter(elements)
    if found != expected:
        hint = " (N-H donor stripped?)" if found["H"] < expected["H"] else ""
        raise CalculationFailed(
            f"composition {_formula(found)} is not {_formula(expected)} for L={smiles!r}" + hint
        )


def _molsimplify_blocks(n_atoms: int) -> list[list[int]]:
    """Atom ranges of molSimplify's output order: metal, 5 x (O, H, H), L, L."""
    n_lig = (n_atoms - 1 - 3 * N_WATERS) // 2
    waters = [list(range(1 + 3 * k, 4 + 3 * k)) for k in range(N_WATERS)]
    first = 1 + 3 * N_WATERS
    return [*waters, list(range(first, first + n_lig)), list(range(first + n_lig, n_atoms))]


def _identify(
    elements: tuple[str, ...],
    xyz: np.ndarray,
    metal: str,
    mol: Chem.Mol,
    blocks: Sequence[Sequence[int]] | None = None,
) -> _Labels:
    """Find the metal, the five waters and each L's donor from bonds perceived in 3D.

    Bonds are perceived between all non-metal atoms, or only within `blocks` when given (a
    raw molSimplify build, whose misplaced ligands may touch the waters). The fragments are
    ordered by first heavy atom; molSimplify writes the waters before the ligands, and that
    order is used only to tell equatorial waters from a ligand that might itself be water.
    """
    metal_idx = elements.index(metal)
    if blocks is None:
        blocks = [[i for i in range(len(elements)) if i != metal_idx]]
    bonds = _bond_graph(elements, xyz, blocks)
    components = (sorted(c) for c in nx.connected_components(bonds))
    # order by first heavy atom: a proton that changed fragment must not reorder them
    fragments = sorted(components, key=lambda f: min(i for i in f if elements[i] != "H"))
    if len(fragments) != N_WATERS + 2:
        raise CalculationFailed(
            f"{len(fragments)} fragments besides the metal, expected 7 "
            "(bonds formed or broken between waters and ligands)"
        )
    waters = tuple(min(i for i in f if elements[i] != "H") for f in fragments[:N_WATERS])
    if any(elements[o] != "O" for o in waters):
        raise CalculationFailed("the first five fragments are not the equatorial waters")
    _check_waters(elements, xyz, waters)
    if any(sorted(elements[i] for i in frag) != ["H", "H", "O"] for frag in fragments[:N_WATERS]):
        raise CalculationFailed("an equatorial water is not an H2O fragment")
    reference = _ligand_graph(mol)
    donors = []
    for frag in fragments[N_WATERS:]:
        heavy = sorted(
            (i for i in frag if elements[i] != "H"),
            key=lambda i: structure.distance(xyz[metal_idx], xyz[i]),
        )
        donors.append(_find_donor(_heavy_graph(elements, bonds, frag), reference, heavy))
    return _Labels(
        metal=metal_idx,
        waters=waters,
        donors=(donors[0], donors[1]),
        fragments=tuple(tuple(f) for f in fragments),
        neighbours={d: sorted(bonds.neighbors(d)) for d in donors},
    )


def complex_from_geometry(
    ligand_smiles: str,
    metal: str,
    elements: Sequence[str],
    coordinates: np.ndarray,
    method: str,
    energy_ev: float | None = None,
) -> Complex:
    """Name the metal, waters, donors and fragments of a geometry, verifying each."""
    lig = chem.ligand(ligand_smiles)
    mol = chem.parse(lig.smiles)
    elements = tuple(elements)
    xyz = np.asarray(coordinates, dtype=float)
    _check_composition(elements, mol, metal, ligand_smiles)
    _check_pairs(elements, xyz)
    _check_metal_contacts(elements, xyz, elements.index(metal))
    labels = _identify(elements, xyz, metal, mol)
    return Complex(
        ligand_smiles=lig.smiles,
        metal_symbol=metal,
        elements=elements,
        coordinates=xyz,
        metal=labels.metal,
        waters=labels.waters,
        donors=labels.donors,
        fragments=labels.fragments,
        charge=METAL_OXSTATE + 2 * lig.charge,
        multiplicity=METAL_MULTIPLICITY[metal],
        method=method,
        energy_ev=energy_ev,
    )


# --- pointing each ligand's lone pair at the metal -----------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Proper rotation matrix taking direction a onto direction b (Rodrigues)."""
    a, b = _unit(a), _unit(b)
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(a @ b)
    if sin < 1e-9:
        if cos > 0:
            return np.eye(3)
        # antiparallel: half turn about any axis perpendicular to a
        perp = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        k = _unit(perp)
        return 2.0 * np.outer(k, k) - np.eye(3)
    k = axis / sin
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * kx + (1 - cos) * kx @ kx


def _lone_pair_directions(xyz: np.ndarray, donor: int, neighbours: Sequence[int]) -> list:
    """Where the donor's lone pair can point; both faces when the donor is planar.

    One neighbour: straight away from it. Two: opposite their bisector. Three: the normal of
    the neighbours' plane on the donor's side (an apex; robust for strained rings where a sum
    of bond vectors is not), or both normals when the donor sits in that plane.
    """
    bonds = np.array([_unit(xyz[n] - xyz[donor]) for n in neighbours])
    if len(bonds) == 1:
        return [-bonds[0]]
    if len(bonds) == 2:
        away = -(bonds[0] + bonds[1])
        if np.linalg.norm(away) > 0.3:
            return [_unit(away)]
        helper = [1.0, 0.0, 0.0] if abs(bonds[0][0]) < 0.9 else [0.0, 1.0, 0.0]
        perp = _unit(np.cross(bonds[0], helper))
        return [perp, np.cross(bonds[0], perp)]
    centroid, normal = structure.fit_plane(xyz[list(neighbours)])
    height = float((xyz[donor] - centroid) @ normal)
    if abs(height) < PLANAR_DONOR_HEIGHT:
        return [normal, -normal]
    return [normal if height > 0 else -normal]


def _axis_rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rotation by `degrees` about `axis` (Rodrigues)."""
    k = _unit(axis)
    t = np.radians(degrees)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(t) * kx + (1 - np.cos(t)) * kx @ kx


def _tilted_targets(target: np.ndarray) -> list[np.ndarray]:
    """The M-D direction and directions tilted from it by each of ORIENT_TILTS, 6 azimuths."""
    t = _unit(target)
    p1 = _unit(np.cross(t, [1.0, 0.0, 0.0] if abs(t[0]) < 0.9 else [0.0, 1.0, 0.0]))
    p2 = np.cross(t, p1)
    out = [t]
    for tilt in ORIENT_TILTS[1:]:
        for psi in np.radians(np.arange(0.0, 360.0, 60.0)):
            side = np.cos(psi) * p1 + np.sin(psi) * p2
            out.append(np.cos(np.radians(tilt)) * t + np.sin(np.radians(tilt)) * side)
    return out


def _contact_limits(elements: Sequence[str], left: Sequence[int], right: Sequence[int]):
    """Closest non-bonded approach allowed between two atom sets (angstrom matrix).

    Beyond the bond-perception cutoff, so no bond is perceived; at least MIN_HEAVY_CONTACT
    between heavy atoms. An O-H...O hydrogen bond (~1.8 A) stays allowed.
    """
    radii = np.array([_covalent_radius(el) for el in elements])
    heavy = np.array([el != "H" for el in elements])
    limit = BOND_SCALE * (radii[list(left)][:, None] + radii[list(right)][None])
    both_heavy = heavy[list(left)][:, None] & heavy[list(right)][None]
    return np.where(both_heavy, np.maximum(limit, MIN_HEAVY_CONTACT), limit)


def _placement_score(
    moved: np.ndarray, metal_xyz: np.ndarray, rest: np.ndarray, limits: np.ndarray
) -> float:
    """Smallest distance ratio to what would fail a check (> 1 passes; larger is roomier).

    Ratios: each ligand atom to the metal over the M-donor distance (moved[0] is the donor),
    and each contact with another fragment over its limit from _contact_limits.
    """
    to_metal = np.linalg.norm(moved[1:] - metal_xyz, axis=1) / np.linalg.norm(moved[0] - metal_xyz)
    dist = np.linalg.norm(moved[:, None] - rest[None], axis=-1)
    return float(min(to_metal.min(initial=np.inf), (dist / limits).min()))


def _orient_ligands(elements: tuple[str, ...], xyz: np.ndarray, labels: _Labels) -> np.ndarray:
    """Rotate each L rigidly about its donor so it points its lone pair at the metal.

    molSimplify's own alignment misplaces many N donors (an N-H or a substituent ends up
    beside or even inside the metal). The donor stays where it is (so M-L = 2.40 A and the
    L-M-L angle are kept); among rotations whose lone pair is within 30 deg of the metal
    direction, spun about the M-D axis, the one farthest from everything else is taken.
    """
    xyz = np.array(xyz, dtype=float)
    for frag, donor in zip(labels.fragments[N_WATERS:], labels.donors, strict=True):
        atoms = [donor, *(i for i in frag if i != donor)]  # donor first for the score
        rest = [i for i in range(len(elements)) if i not in frag and i != labels.metal]
        limits = _contact_limits(elements, atoms, rest)
        target = xyz[labels.metal] - xyz[donor]
        local = xyz[atoms] - xyz[donor]
        best, best_score = xyz[atoms], -np.inf
        for direction in _lone_pair_directions(xyz, donor, labels.neighbours[donor]):
            for tilted in _tilted_targets(target):
                aligned = local @ _rotation(direction, tilted).T
                for spin in ORIENT_SPINS:
                    moved = aligned @ _axis_rotation(target, spin).T + xyz[donor]
                    score = _placement_score(moved, xyz[labels.metal], xyz[rest], limits)
                    if score > best_score:
                        best, best_score = moved, score
        xyz[atoms] = best
    return xyz


# --- geometry checks -----------------------------------------------------------------------


def _distances(xyz: np.ndarray) -> np.ndarray:
    """All pair distances, the diagonal set to infinity."""
    dist = np.linalg.norm(xyz[:, None, :] - xyz[None, :, :], axis=-1)
    np.fill_diagonal(dist, np.inf)
    return dist


def _check_pairs(elements: Sequence[str], xyz: np.ndarray) -> None:
    """No two atoms closer than MIN_PAIR_DISTANCE (checked before bonds are perceived)."""
    dist = _distances(xyz)
    i, j = np.unravel_index(np.argmin(dist), dist.shape)
    if dist[i, j] < MIN_PAIR_DISTANCE:
        raise CalculationFailed(
            f"atoms {elements[i]}{i} and {elements[j]}{j} clash at {dist[i, j]:.2f} A"
        )


def _check_metal_contacts(elements: Sequence[str], xyz: np.ndarray, metal: int) -> None:
    """Nothing closer to the metal than a bond allows (a misaligned ligand pokes into it)."""
    dist = np.linalg.norm(xyz - xyz[metal], axis=1)
    dist[metal] = np.inf
    atom = int(np.argmin(dist))
    if dist[atom] < METAL_DONOR_RANGE[0]:
        raise CalculationFailed(
            f"{elements[atom]}{atom} is only {dist[atom]:.2f} A from the metal (misplaced ligand)"
        )


def _check_contacts(cx: Complex) -> None:
    """No atom clash; no heavy-atom contact between different fragments."""
    _check_pairs(cx.elements, cx.coordinates)
    dist = _distances(cx.coordinates)
    owner = {a: k for k, frag in enumerate(cx.fragments) for a in frag}
    heavy = [a for a in owner if cx.elements[a] != "H"]
    for a in heavy:
        for b in heavy:
            if owner[a] < owner[b] and dist[a, b] < MIN_HEAVY_CONTACT:
                raise CalculationFailed(
                    f"{cx.elements[a]}{a} and {cx.elements[b]}{b} of different ligands are "
                    f"{dist[a, b]:.2f} A apart"
                )


def _check_ligand_orientation(cx: Complex) -> None:
    """Each L touches the metal through its donor only: no second N/O donor, no closer atom."""
    xyz = cx.coordinates
    for frag, donor in zip(cx.fragments[N_WATERS:], cx.donors, strict=True):
        d_donor = structure.distance(xyz[cx.metal], xyz[donor])
        others = {i: structure.distance(xyz[cx.metal], xyz[i]) for i in frag if i != donor}
        for atom, d in others.items():
            if cx.elements[atom] in ("N", "O") and d < MIN_SECOND_DONOR:
                raise CalculationFailed(
                    f"ligand atom {cx.elements[atom]}{atom} also binds the metal ({d:.2f} A): "
                    "L is not monodentate"
                )
        atom = min(others, key=others.__getitem__)
        if others[atom] < d_donor:
            raise CalculationFailed(
                f"ligand atom {cx.elements[atom]}{atom} ({others[atom]:.2f} A) is closer to the "
                f"metal than the donor {cx.elements[donor]}{donor} ({d_donor:.2f} A): "
                "L is misoriented"
            )


def check_geometry(cx: Complex) -> None:
    """Raise CalculationFailed naming the first pentagonal-bipyramid property that fails."""
    xyz = cx.coordinates
    _check_contacts(cx)
    lo, hi = METAL_DONOR_RANGE
    for atom in (*cx.waters, *cx.donors):
        d = structure.distance(xyz[cx.metal], xyz[atom])
        if not lo <= d <= hi:
            raise CalculationFailed(
                f"{cx.metal_symbol}-{cx.elements[atom]}{atom} is {d:.2f} A, outside {lo}-{hi} A"
            )
    _check_ligand_orientation(cx)
    plane = xyz[[cx.metal, *cx.waters]]
    worst = float(np.abs(structure.plane_deviations(plane)).max())
    if worst > MAX_PLANE_DEVIATION:
        raise CalculationFailed(
            f"water O not coplanar with the metal: {worst:.2f} A > {MAX_PLANE_DEVIATION} A"
        )
    lml = structure.angle(xyz[cx.donors[0]], xyz[cx.metal], xyz[cx.donors[1]])
    if lml < MIN_LML_ANGLE:
        raise CalculationFailed(f"L-M-L angle {lml:.1f} deg < {MIN_LML_ANGLE} deg")
    _check_waters(cx.elements, xyz, cx.waters)


# --- relaxation ----------------------------------------------------------------------------


def relax(
    cx: Complex,
    solvent: str | None = "water",
    fmax: float = 0.05,
    steps: int = 400,
) -> Complex:
    """GFN2-xTB relaxation in ALPB implicit solvent, the equatorial O kept in their plane.

    Constraints: the metal is fixed and each water O may move only within the equatorial
    plane (FixedPlane), so M-O(water) distances and the axial ligands relax while MPP/SDP stay
    0 by construction. Gas phase (solvent=None) is available but bends anionic complexes and
    moves protons from water to alkoxides. GFN2 keeps Dy's 4f shell in the core, so the
    valence system is closed shell for Dy and Y alike: multiplicity 1 here. The returned
    Complex carries the GFN2 total energy (solvation included) in energy_ev. Poor donors
    (amide N, carboxylic-acid OH) dissociate and carboxylates turn bidentate: both fail.
    """
    from ase import Atoms
    from ase.calculators.calculator import CalculatorError
    from ase.constraints import FixAtoms, FixedPlane
    from ase.optimize import BFGS
    from tblite.ase import TBLite

    atoms = Atoms(cx.elements, positions=np.array(cx.coordinates))
    _, normal = structure.fit_plane(cx.coordinates[[cx.metal, *cx.waters]])
    atoms.set_constraint([FixAtoms([cx.metal]), FixedPlane(list(cx.waters), normal)])
    atoms.calc = TBLite(
        method="GFN2-xTB",
        charge=cx.charge,
        multiplicity=1,
        solvation=("alpb", solvent) if solvent else None,
        verbosity=0,
    )
    try:
        converged = BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps)
        energy = float(atoms.get_potential_energy())
    except CalculatorError as exc:
        raise CalculationFailed(f"GFN2-xTB failed for L={cx.ligand_smiles!r}: {exc}") from exc
    if not converged:
        raise CalculationFailed(f"GFN2-xTB relaxation not converged in {steps} steps")
    method = f"gfn2-xtb/alpb({solvent})" if solvent else "gfn2-xtb/gas"
    # Shape checks against the known labelling first (they name the atoms that went wrong),
    # then re-identify from scratch to prove every bond and fragment survived.
    check_geometry(dataclasses.replace(cx, coordinates=atoms.positions))
    relaxed = complex_from_geometry(
        cx.ligand_smiles, cx.metal_symbol, cx.elements, atoms.positions, method, energy
    )
    if (relaxed.waters, relaxed.donors, relaxed.fragments) != (
        cx.waters,
        cx.donors,
        cx.fragments,
    ):
        raise CalculationFailed("relaxation changed which atoms bind the metal")
    return relaxed
