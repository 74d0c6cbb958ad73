"""Naming the atoms of a geometry: metal, the five waters, each ligand's donor, the fragments.

molSimplify's atom order is never trusted blindly: after every build or relaxation the atoms are
re-identified from bonds perceived in 3D (water fragments, ligand graphs matched against
RDKit's), so a ligand whose bonds changed is caught rather than mislabelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import networkx as nx
import numpy as np
from ase.data import covalent_radii
from rdkit import Chem

from calculators import structure
from calculators.assembly.checks import (
    check_composition,
    check_metal_contacts,
    check_pairs,
    check_waters,
)
from calculators.assembly.complex import METAL_MULTIPLICITY, METAL_OXSTATE, N_WATERS, Complex
from calculators.base import CalculationFailed
from gauss import chem

BOND_SCALE = 1.25  # covalent bond if d < BOND_SCALE * (r_i + r_j)


def covalent_radius(element: str) -> float:
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
                ri, rj = covalent_radius(elements[i]), covalent_radius(elements[j])
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


class Labels(NamedTuple):
    metal: int
    waters: tuple[int, ...]
    donors: tuple[int, int]
    fragments: tuple[tuple[int, ...], ...]
    neighbours: dict[int, list[int]]  # covalent neighbours of each donor


def label_atoms(
    elements: tuple[str, ...],
    xyz: np.ndarray,
    metal: str,
    mol: Chem.Mol,
    blocks: Sequence[Sequence[int]] | None = None,
) -> Labels:
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
    components = [sorted(c) for c in nx.connected_components(bonds)]
    bare = [f for f in components if all(elements[i] == "H" for i in f)]
    if bare:
        raise CalculationFailed(
            f"hydrogen atoms {[i + 1 for f in bare for i in f]} (1-based) are bonded to no heavy "
            "atom (a proton or H2 detached)"
        )
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
    check_waters(elements, xyz, waters)
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
    return Labels(
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
    check_composition(elements, mol, metal, ligand_smiles)
    check_pairs(elements, xyz)
    check_metal_contacts(elements, xyz, elements.index(metal))
    labels = label_atoms(elements, xyz, metal, mol)
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
