"""Geometry step of the calibrated embedded KD: ligand descriptors and donor placement.

Why: molSimplify puts every Dy-donor bond at 2.40 A, yet the Dy-donor distance of the DFT
(BP86-D3) geometries is what ranks the CASSCF first gap (docs/kd_calibration.md). Relaxing each
complex with GFN2-xTB costs ~7.5 s and misbehaves in the gas phase, so instead a small model
predicts the Dy-donor distance from cheap descriptors of the free ligand (donor element,
charge, hybridisation, neighbours, GFN2-xTB/D4 donor properties), and each ligand is then moved
rigidly along its Dy-donor axis to that distance. The distance model itself lives in the
calibration artifact (calculators.kd_calibration); this module only computes descriptors and
moves atoms.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit import Chem

from calculators.base import CalculationFailed
from gauss import chem

HYBRIDISATION = {
    Chem.HybridizationType.SP: 1.0,
    Chem.HybridizationType.SP2: 2.0,
    Chem.HybridizationType.SP3: 3.0,
}
# Descriptor names, in the order the models read them.
GRAPH_DESCRIPTORS = (
    "donor_z",
    "ligand_charge",
    "donor_formal_charge",
    "donor_heavy_degree",
    "donor_h",
    "donor_aromatic",
    "donor_hybridisation",
    "donor_in_ring",
    "donor_double_bond",
    "neighbour_pi",
    "neighbour_hetero_double",
    "heavy_within_2",
    "heavy_within_3",
    "heavy_atoms",
)
XTB_DESCRIPTORS = ("xtb_charge", "xtb_dipole", "d4_polarizability", "eeq_charge")
# From the GFN2-xTB/ALPB single point of the 2.40 A complex (calculators.kd_embedded).
COMPLEX_DESCRIPTORS = ("complex_de_dd", "complex_bond_order", "complex_donor_charge")
DESCRIPTORS = GRAPH_DESCRIPTORS + XTB_DESCRIPTORS + COMPLEX_DESCRIPTORS


def graph_descriptors(smiles: str) -> dict[str, float]:
    """RDKit descriptors of the donor atom and its surroundings (donor is atom 0).

    Conjugation of the donor (amide/aniline N, carboxylate or phenolate O) weakens it and
    lengthens the bond; heavy atoms within two or three bonds measure crowding at the metal.
    """
    lig = chem.ligand(smiles)
    mol = chem.parse(lig.smiles)
    donor = mol.GetAtomWithIdx(0)
    neighbours = list(donor.GetNeighbors())
    paths = Chem.GetDistanceMatrix(mol)[0]

    def pi(atom: Chem.Atom) -> bool:
        return atom.GetIsAromatic() or atom.GetHybridization() in (
            Chem.HybridizationType.SP,
            Chem.HybridizationType.SP2,
        )

    def hetero_double(atom: Chem.Atom) -> bool:
        return any(
            b.GetBondType() in (Chem.BondType.DOUBLE, Chem.BondType.TRIPLE)
            and b.GetOtherAtom(atom).GetIdx() != 0
            and b.GetOtherAtom(atom).GetSymbol() in ("N", "O", "S")
            for b in atom.GetBonds()
        )

    return {
        "donor_z": float(donor.GetAtomicNum()),
        "ligand_charge": float(lig.charge),
        "donor_formal_charge": float(donor.GetFormalCharge()),
        "donor_heavy_degree": float(donor.GetDegree()),
        "donor_h": float(donor.GetTotalNumHs()),
        "donor_aromatic": float(donor.GetIsAromatic()),
        "donor_hybridisation": HYBRIDISATION.get(donor.GetHybridization(), 0.0),
        "donor_in_ring": float(donor.IsInRing()),
        "donor_double_bond": float(
            any(b.GetBondType() != Chem.BondType.SINGLE for b in donor.GetBonds())
        ),
        "neighbour_pi": float(sum(pi(a) for a in neighbours)),
        "neighbour_hetero_double": float(sum(hetero_double(a) for a in neighbours)),
        "heavy_within_2": float(((paths > 0) & (paths <= 2)).sum()),
        "heavy_within_3": float(((paths > 0) & (paths <= 3)).sum()),
        "heavy_atoms": float(lig.heavy_atoms),
    }


def ligand_descriptors(smiles: str) -> dict[str, float]:
    """DESCRIPTORS of a donor-first ligand: graph ones plus GFN2-xTB/D4 donor properties.

    Raises chem.LigandError for bad SMILES and CalculationFailed when the free-ligand
    conformer or single point fails (calculators.proxy_xtb).
    """
    from calculators.proxy_xtb import proxy_properties

    values = graph_descriptors(smiles)
    proxy = proxy_properties(smiles)
    values |= {
        "xtb_charge": proxy["charge"],
        "xtb_dipole": proxy["dipole"],
        "d4_polarizability": proxy["polarizability"],
        "eeq_charge": proxy["charge_eeq"],
    }
    return {name: float(values[name]) for name in GRAPH_DESCRIPTORS + XTB_DESCRIPTORS}


def shifted_positions(
    coordinates: np.ndarray,
    metal: int,
    donors: Sequence[int],
    ligand_atoms: Sequence[Sequence[int]],
    distances: Sequence[float],
) -> np.ndarray:
    """Coordinates with each ligand moved rigidly along its metal-donor axis to `distances` (A).

    Waters, metal and the L-M-L angle stay as built. The calibrated model reads only point
    charges from this geometry, and it is trained on geometries made the same way.
    """
    if len(distances) != len(donors) or not all(1.8 <= d <= 3.2 for d in distances):
        raise ValueError(f"need one Dy-donor distance within 1.8-3.2 A per donor, got {distances}")
    xyz = np.array(coordinates, dtype=float)
    for atoms, donor, target in zip(ligand_atoms, donors, distances, strict=True):
        axis = xyz[donor] - xyz[metal]
        current = float(np.linalg.norm(axis))
        if current <= 0:
            raise CalculationFailed("donor on top of the metal")
        xyz[list(atoms)] += axis / current * (float(target) - current)
    return xyz
