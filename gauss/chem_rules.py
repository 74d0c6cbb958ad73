"""Structural rules a coordination chemist applies to sampled ligands before computing them.

RDKit validity is not enough: the decoder can write molecules nobody would make or trust as a
ligand of [Dy(H2O)5L2]+. Each rule names one reason, is switchable from the campaign spec, and
is counted per round like the other sampling filters. Why each rule:

* ``peroxide`` — an O-O single bond (peroxides, hydroperoxides, N-O-O): the weakest common
  single bond in organic chemistry (~35-50 kcal/mol), oxidising and shock/heat sensitive;
  next to an oxophilic Ln(III) cation it is a decomposition route, not a spectator.
* ``remote_charge`` — a formal charge on any atom but the donor (zwitterions such as
  ``[O-]...[NH3+]``): the complex model puts the ligand's whole charge at the coordinating atom
  (neutral or mono-anionic donor, as the corpus rule does); a remote cation is an acid that
  would protonate the donor in reality.
* ``radical`` — unpaired electrons on the ligand: the [Dy(H2O)5L2]+ calculations are closed
  shell on the ligand, with the only open shell the Dy 4f9.
* ``small_ring_heteroatoms`` — a three-membered ring with two or more heteroatoms (oxaziridines,
  diaziridines, dioxiranes): strained oxidants/aminating agents, not stable ligands.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from rdkit import Chem

_PEROXIDE = Chem.MolFromSmarts("[#8]-[#8]")
_HETERO = (7, 8, 9)


@dataclass(frozen=True)
class StructureRules:
    """Which rules are on (all by default); field names are the reasons counted per round."""

    peroxide: bool = True
    remote_charge: bool = True
    radical: bool = True
    small_ring_heteroatoms: bool = True

    def enabled(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name)]


def _small_ring_heteroatoms(mol: Chem.Mol) -> bool:
    for ring in mol.GetRingInfo().AtomRings():
        if len(ring) == 3:
            hetero = sum(mol.GetAtomWithIdx(i).GetAtomicNum() in _HETERO for i in ring)
            if hetero >= 2:
                return True
    return False


def violations(mol: Chem.Mol, rules: StructureRules, donor_index: int = 0) -> list[str]:
    """Names of the enabled rules a (sanitized) ligand breaks; [] when it passes."""
    found = []
    if rules.peroxide and mol.HasSubstructMatch(_PEROXIDE):
        found.append("peroxide")
    if rules.remote_charge and any(
        a.GetFormalCharge() != 0 for a in mol.GetAtoms() if a.GetIdx() != donor_index
    ):
        found.append("remote_charge")
    if rules.radical and any(a.GetNumRadicalElectrons() for a in mol.GetAtoms()):
        found.append("radical")
    if rules.small_ring_heteroatoms and _small_ring_heteroatoms(mol):
        found.append("small_ring_heteroatoms")
    return found
