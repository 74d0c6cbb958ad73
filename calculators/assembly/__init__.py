"""Build, check and optionally relax [M(H2O)5L2]^(3+2q) pentagonal bipyramids.

molSimplify's legacy generator places five waters in the equatorial plane and the two identical
ligands L on the axis, every M-L bond at 2.40 A (2.42 A for N). Its alignment of L is often
wrong for N donors, so each L is then turned rigidly about its donor to point its lone pair at
the metal. molSimplify's atom order is never trusted blindly: after every build or relaxation
the atoms are re-identified from the geometry (water fragments, ligand graphs matched against
RDKit's) and the shape is checked, so a silently wrong structure (stripped N-H, a proton moved
to an alkoxide, a ligand swapped for a dictionary entry) becomes a CalculationFailed with a
specific reason instead of a bad row.

complex   the Complex type and what defines one (metal spins, oxidation state, five waters)
build     the molSimplify run in its scratch directory, and `assemble`
identify  bonds perceived in 3D, water and donor identification, `complex_from_geometry`
orient    lone-pair directions and the rigid rotation search per ligand
checks    `check_geometry` and the composition, contact and water checks it is made of
relax     GFN2-xTB/ALPB relaxation with the equatorial O held in their plane
"""

from calculators.assembly.build import assemble
from calculators.assembly.checks import (
    MAX_PLANE_DEVIATION,
    METAL_DONOR_RANGE,
    MIN_HEAVY_CONTACT,
    MIN_LML_ANGLE,
    MIN_PAIR_DISTANCE,
    MIN_SECOND_DONOR,
    check_geometry,
)
from calculators.assembly.complex import METAL_MULTIPLICITY, METAL_OXSTATE, N_WATERS, Complex
from calculators.assembly.identify import BOND_SCALE, complex_from_geometry
from calculators.assembly.orient import ORIENT_SPINS, ORIENT_TILTS, PLANAR_DONOR_HEIGHT
from calculators.assembly.relax import relax

__all__ = [
    "BOND_SCALE",
    "MAX_PLANE_DEVIATION",
    "METAL_DONOR_RANGE",
    "METAL_MULTIPLICITY",
    "METAL_OXSTATE",
    "MIN_HEAVY_CONTACT",
    "MIN_LML_ANGLE",
    "MIN_PAIR_DISTANCE",
    "MIN_SECOND_DONOR",
    "N_WATERS",
    "ORIENT_SPINS",
    "ORIENT_TILTS",
    "PLANAR_DONOR_HEIGHT",
    "Complex",
    "assemble",
    "check_geometry",
    "complex_from_geometry",
    "relax",
]
