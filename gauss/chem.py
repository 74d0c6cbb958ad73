"""RDKit chemistry shared by the corpus builder, the sampler and the calculators.

A *ligand* here is a SMILES string whose first atom is the coordinating (donor) atom, N or O.
Everything that decides "which atom binds" or "is this the same ligand" lives in this module,
so the corpus, LP sampling and complex assembly agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem, RDLogger

RDLogger.DisableLog("rdApp.*")

DONOR_ELEMENTS = ("N", "O")
_VALENCE_ELECTRONS = {"N": 5, "O": 6}


class LigandError(ValueError):
    """A SMILES that cannot be used as a ligand; the message names the offending value."""


@dataclass(frozen=True)
class Ligand:
    """One (molecule, coordinating atom) pair, written donor-first."""

    smiles: str  # rooted at the donor atom, canonical under that constraint, no stereo
    canonical_smiles: str  # kekulized canonical SMILES of the molecule (donor-agnostic)
    donor: str  # "N" or "O"
    charge: int  # net charge of the ligand
    donor_charge: int  # formal charge on the donor atom
    heavy_atoms: int


def parse(smiles: str) -> Chem.Mol:
    """Parse and sanitize a SMILES, raising LigandError that names it on failure."""
    if not isinstance(smiles, str) or not smiles.strip():
        raise LigandError(f"empty SMILES: {smiles!r}")
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise LigandError(f"invalid SMILES: {smiles!r}")
    return mol


def strip_stereo(mol: Chem.Mol) -> Chem.Mol:
    """Copy without stereochemistry: the corpus, like the paper's, ignores it."""
    mol = Chem.Mol(mol)
    Chem.RemoveStereochemistry(mol)
    return mol


def lone_pairs(atom: Chem.Atom) -> int:
    """Non-bonding electron pairs on an N or O atom from its valence electron count."""
    electrons = (
        _VALENCE_ELECTRONS[atom.GetSymbol()]
        - atom.GetFormalCharge()
        - atom.GetTotalValence()
        - atom.GetNumRadicalElectrons()
    )
    return max(electrons, 0) // 2


def can_donate(atom: Chem.Atom) -> bool:
    """True if an N/O atom has a lone pair available for a sigma bond to the metal.

    Excluded: atoms without a lone pair (ammonium, nitro N) and pyrrole-type aromatic N whose
    only lone pair is part of the aromatic pi sextet. Amide, aniline and furan-type atoms keep
    an available pair and are included, as in the paper's corpus.
    """
    if atom.GetSymbol() not in DONOR_ELEMENTS or atom.GetFormalCharge() > 0:
        return False
    pairs = lone_pairs(atom)
    if pairs == 0:
        return False
    pi_pyrrole_n = (
        atom.GetSymbol() == "N"
        and atom.GetIsAromatic()
        and atom.GetTotalDegree() == 3
        and atom.GetFormalCharge() == 0
    )
    return not pi_pyrrole_n


def rooted_smiles(mol: Chem.Mol, atom_idx: int) -> str:
    """SMILES starting at atom_idx, canonical under that constraint.

    Rooted output is re-read until it reproduces itself: for a few highly symmetric cages
    RDKit's first rooted string is not a fixed point, which would let one ligand appear under
    two spellings.
    """
    smiles = Chem.MolToSmiles(mol, rootedAtAtom=atom_idx, canonical=True)
    for _ in range(5):
        again = Chem.MolToSmiles(Chem.MolFromSmiles(smiles), rootedAtAtom=0, canonical=True)
        if again == smiles:
            break
        smiles = again
    return smiles


def kekule_canonical(mol: Chem.Mol) -> str:
    """Kekulized canonical SMILES, the paper's identity for novelty checks.

    A few decoded strings parse but cannot be kekulized once stereo is stripped; they are not
    usable ligands, so this raises LigandError naming them.
    """
    mol = Chem.Mol(mol)
    try:
        Chem.Kekulize(mol, clearAromaticFlags=True)
    except Chem.rdchem.KekulizeException as exc:
        raise LigandError(f"cannot kekulize {Chem.MolToSmiles(mol)!r}: {exc}") from None
    return Chem.MolToSmiles(mol, kekuleSmiles=True, canonical=True)


def ligand_from_atom(mol: Chem.Mol, atom_idx: int) -> Ligand:
    """Describe mol bound through atom_idx (mol must be sanitized, stereo-free, no explicit H)."""
    atom = mol.GetAtomWithIdx(atom_idx)
    return Ligand(
        smiles=rooted_smiles(mol, atom_idx),
        canonical_smiles=kekule_canonical(mol),
        donor=atom.GetSymbol(),
        charge=Chem.GetFormalCharge(mol),
        donor_charge=atom.GetFormalCharge(),
        heavy_atoms=mol.GetNumHeavyAtoms(),
    )


def ligand(smiles: str) -> Ligand:
    """Validate a donor-first ligand SMILES and return its canonical description.

    Raises LigandError naming the SMILES if it does not parse, or if its first atom is not an
    N or O able to donate a lone pair.
    """
    mol = strip_stereo(parse(smiles))
    first = mol.GetAtomWithIdx(0)
    if first.GetSymbol() not in DONOR_ELEMENTS:
        raise LigandError(
            f"first atom of {smiles!r} is {first.GetSymbol()!r}: the coordinating atom must "
            "come first and be N or O"
        )
    if not can_donate(first):
        raise LigandError(f"first atom of {smiles!r} has no lone pair to donate")
    return ligand_from_atom(mol, 0)


def _symmetry_representatives(mol: Chem.Mol, atoms: list[int]) -> list[int]:
    """One atom per symmetry class, so equivalent atoms are handled once."""
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    seen: dict[int, int] = {}
    for idx in atoms:
        seen.setdefault(ranks[idx], idx)
    return sorted(seen.values())


def neutral_ligands(mol: Chem.Mol) -> list[Ligand]:
    """Every (molecule, donor atom) pair of a molecule as it is given."""
    donors = [a.GetIdx() for a in mol.GetAtoms() if can_donate(a)]
    return [ligand_from_atom(mol, i) for i in _symmetry_representatives(mol, donors)]


def _deprotonate(mol: Chem.Mol, atom_idx: int) -> Chem.Mol | None:
    """Remove one H+ from atom_idx (which must carry an H); None if the anion is unsanitizable."""
    rw = Chem.RWMol(mol)
    atom = rw.GetAtomWithIdx(atom_idx)
    atom.SetNumExplicitHs(atom.GetTotalNumHs() - 1)
    atom.SetNoImplicit(True)
    atom.SetFormalCharge(atom.GetFormalCharge() - 1)
    anion = rw.GetMol()
    try:
        Chem.SanitizeMol(anion)
    except Chem.rdchem.MolSanitizeException:
        return None
    return anion


def _can_conjugate(atom: Chem.Atom) -> bool:
    """Can the pair left by deprotonating this atom delocalize into a pi system?

    Yes for an sp3 centre next to a pi system (enolates, amidates, phenolates) and for an
    aromatic pyrrole-type N (the azolide charge is shared by the ring N atoms). No for other
    sp2/sp centres (imine N-H, aryl or alkynyl C-H): their new pair lies in the sigma plane,
    so the charge stays where it formed.
    """
    if atom.GetIsAromatic():
        return atom.GetSymbol() == "N"
    if any(b.GetBondType() != Chem.BondType.SINGLE for b in atom.GetBonds()):
        return False
    return any(
        b.GetBondType() != Chem.BondType.SINGLE for nb in atom.GetNeighbors() for b in nb.GetBonds()
    )


def _charged_donor_forms(anion: Chem.Mol, site: int) -> dict[int, Chem.Mol]:
    """N/O atoms carrying the negative charge, each with a structure that puts it there."""
    forms: dict[int, Chem.Mol] = {}
    if anion.GetAtomWithIdx(site).GetSymbol() in DONOR_ELEMENTS:
        forms[site] = anion
    if _can_conjugate(anion.GetAtomWithIdx(site)):
        for structure in Chem.ResonanceMolSupplier(anion):
            if structure is None:
                continue
            for atom in structure.GetAtoms():
                idx = atom.GetIdx()
                if atom.GetFormalCharge() == -1 and atom.GetSymbol() in DONOR_ELEMENTS:
                    if idx not in forms:
                        form = Chem.Mol(structure)
                        try:
                            Chem.SanitizeMol(form)
                        except Chem.rdchem.MolSanitizeException:
                            continue
                        forms[idx] = form
    # Zwitterion parents: an atom that was already anionic stays a charged donor.
    for atom in anion.GetAtoms():
        if atom.GetFormalCharge() == -1 and atom.GetSymbol() in DONOR_ELEMENTS:
            forms.setdefault(atom.GetIdx(), anion)
    return forms


def anion_ligands(mol: Chem.Mol) -> list[tuple[Ligand, str]]:
    """Mono-anions of a neutral molecule, each with the element that lost the proton.

    Rule: remove one H+ from any N-H, O-H or C-H; keep every N or O atom that carries the
    negative charge in some resonance structure of the resulting anion, written in that
    structure and rooted at it, provided it is the only charged atom there. This yields
    alkoxides/amides from X-H, imidates from amides and enolates from C-H acids - the same
    species a deprotonated-ion database such as QM9star holds - without a list of functional
    groups.
    """
    if Chem.GetFormalCharge(mol) != 0:
        return []
    sites = [a.GetIdx() for a in mol.GetAtoms() if a.GetTotalNumHs() > 0]
    found: dict[str, tuple[Ligand, str]] = {}
    for site in _symmetry_representatives(mol, sites):
        element = mol.GetAtomWithIdx(site).GetSymbol()
        anion = _deprotonate(mol, site)
        if anion is None:
            continue
        for donor_idx, form in sorted(_charged_donor_forms(anion, site).items()):
            if sum(abs(a.GetFormalCharge()) for a in form.GetAtoms()) != 1:
                continue  # keep single-centre anions: the donor is the only charged atom
            lig = ligand_from_atom(form, donor_idx)
            if lig.donor_charge == -1:
                found.setdefault(lig.smiles, (lig, element))
    return [found[k] for k in sorted(found)]
