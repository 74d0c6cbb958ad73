"""Point-charge crystal-field model of the Dy(III) ground multiplet 6H15/2 (embedded, numpy only).

What it is: the 4f^9 ion's lowest J = 15/2 multiplet split by the electrostatic field of point
charges around a Dy3+ at the origin. The field is expanded in rank k = 2, 4, 6 harmonics and
mapped onto Stevens operator equivalents,

    H = sum_{k,q} B_k^q O_k^q,   B_k^q = -theta_k <r^k> sum_i q_i (4 pi/(2k+1)) C_kq^2
                                           p_kq(R_i_hat) / R_i^(k+1)   (atomic units -> cm^-1),

with p_kq the Cartesian polynomial behind O_k^q (Stevens convention) and C_kq Hutchings'
tesseral-harmonic prefactor (Z_kq = C_kq p_kq / r^k is orthonormal on the sphere). q_i is in
units of e: a negative q_i is an electron-rich donor. Diagonalising the 16 x 16 H gives eight
Kramers doublets (KDs), their gaps, the ground doublet's effective spin-1/2 g-tensor and the
M_J make-up of each KD.

Operators are built, not tabulated: a harmonic polynomial maps to its fully symmetrised
operator equivalent because both transform alike under rotations, so (x + iy)^k <-> J+^k and
each lowering step L- on polynomials <-> the commutator [J-, .] on operators. Expanding the
Stevens polynomial p_kq in that chain gives O_k^q for any J without typing coefficient tables.

Limits: point charges only (no covalency, no polarisation, no charge penetration); ground J
multiplet only (no J mixing, no excited multiplets); <r^k> values are free-ion estimates. It is
a fast screening proxy, NOT a CASSCF/SO-RASSI calculation: results must never be stored or
compared as if they came from ab initio (see calculators.base: every result names its method).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

J_DY = 7.5  # 6H15/2
G_J_DY = 4.0 / 3.0  # Lande factor of 6H15/2
RANKS = (2, 4, 6)
KQ: tuple[tuple[int, int], ...] = tuple((k, q) for k in RANKS for q in range(-k, k + 1))
# Stevens factors alpha_J, beta_J, gamma_J of Dy3+ 6H15/2.
STEVENS_THETA = {2: -2.0 / 315.0, 4: -8.0 / 135135.0, 6: 4.0 / 3864861.0}
# <r^k> of Dy3+ 4f in bohr^k (Edvardsson & Klintenberg 1998, unshielded).
R_K_DY = {2: 0.849, 4: 1.977, 6: 10.44}
HARTREE_CM = 219474.63  # e^2 / (4 pi eps0 a0) in cm^-1
BOHR_ANGSTROM = 0.529177210903
MIN_DISTANCE_ANGSTROM = 0.5  # closer charges mean the Dy itself (or garbage) was passed
METHOD = "point-charge crystal field, Dy3+ 6H15/2 (Stevens operators, k=2,4,6); not CASSCF"

_NPOLY = 7  # polynomial coefficient arrays hold exponents 0..6 of x, y, z


# --- tiny algebra of homogeneous polynomials in x, y, z -------------------------------------


def _shift_up(p: NDArray[np.complex128], axis: int) -> NDArray[np.complex128]:
    """Multiply a coefficient array by x, y or z (axis 0, 1, 2)."""
    if np.any(np.take(p, [_NPOLY - 1], axis=axis)):
        raise ValueError("polynomial degree exceeds the supported rank 6")
    return np.roll(p, 1, axis=axis)


def _derivative(p: NDArray[np.complex128], axis: int) -> NDArray[np.complex128]:
    """Partial derivative of a coefficient array along x, y or z."""
    shape = [1, 1, 1]
    shape[axis] = _NPOLY
    scaled = p * np.arange(_NPOLY).reshape(shape)
    out = np.roll(scaled, -1, axis=axis)
    index: list[Any] = [slice(None)] * 3
    index[axis] = _NPOLY - 1
    out[tuple(index)] = 0.0
    return out


def _lower(p: NDArray[np.complex128]) -> NDArray[np.complex128]:
    """Apply L- = (x - iy) d/dz - z (d/dx - i d/dy), the lowering operator on functions."""
    dz = _derivative(p, 2)
    grad = _derivative(p, 0) - 1j * _derivative(p, 1)
    return _shift_up(dz, 0) - 1j * _shift_up(dz, 1) - _shift_up(grad, 2)


def _monomial(a: int, b: int, c: int) -> NDArray[np.complex128]:
    p = np.zeros((_NPOLY,) * 3, dtype=complex)
    p[a, b, c] = 1.0
    return p


def _legendre_derivative(k: int, q: int) -> tuple[list[int], float]:
    """Primitive integer coefficients (by power of t) of d^q P_k/dt^q, and the scale s_kq.

    s_kq is the factor with primitive polynomial = s_kq * d^q P_k / dt^q; the Stevens
    polynomials use these smallest-integer coefficients.
    """
    coeffs = [0] * (k + 1)  # 2^k P_k(t) has integer coefficients
    for j in range(k // 2 + 1):
        coeffs[k - 2 * j] = (-1) ** j * math.comb(k, j) * math.comb(2 * k - 2 * j, k)
    for _ in range(q):
        coeffs = [n * coeffs[n] for n in range(1, len(coeffs))]
    common = math.gcd(*coeffs)
    return [c // common for c in coeffs], 2.0**k / common


def _stevens_polynomial(k: int, q: int) -> NDArray[np.complex128]:
    """Cartesian polynomial p_kq behind O_k^q: Re/Im[(x+iy)^|q|] r^(k-|q|) g(z/r).

    Cosine type for q >= 0, sine type for q < 0, e.g. p_20 = 3z^2 - r^2, p_2-2 = 2xy.
    """
    m = abs(q)
    g, _ = _legendre_derivative(k, m)
    base = _monomial(0, 0, 0)
    for _ in range(m):
        base = _shift_up(base, 0) + 1j * _shift_up(base, 1)
    total = np.zeros_like(base)
    for power, coeff in enumerate(g):
        if coeff == 0:
            continue
        term = base
        for _ in range(power):
            term = _shift_up(term, 2)
        for _ in range((k - m - power) // 2):
            term = sum(_shift_up(_shift_up(term, ax), ax) for ax in range(3))
        total = total + coeff * term
    part = total.real if q >= 0 else total.imag
    return part.astype(complex)


def hutchings_prefactor(k: int, q: int) -> float:
    """C_kq such that C_kq p_kq(r_hat) is an orthonormal real (tesseral) harmonic."""
    m = abs(q)
    _, scale = _legendre_derivative(k, m)
    norm = (2 - (m == 0)) * (2 * k + 1) / (4 * math.pi) * math.factorial(k - m)
    return math.sqrt(norm / math.factorial(k + m)) / scale


# --- Stevens operators ---------------------------------------------------------------------


def mj_values(J: float) -> NDArray[np.float64]:
    """Basis ordering used everywhere here: M_J = +J, J-1, ..., -J."""
    dim = round(2 * J + 1)
    if dim < 1 or abs(2 * J + 1 - dim) > 1e-12:
        raise ValueError(f"J must be a non-negative integer or half-integer, got {J}")
    return J - np.arange(dim, dtype=float)


def angular_momentum(J: float) -> tuple[NDArray[np.complex128], ...]:
    """(Jz, J+, J-) in the |J, M_J> basis (M_J descending), standard Condon-Shortley phases."""
    m = mj_values(J)
    jz = np.diag(m).astype(complex)
    jp = np.zeros_like(jz)
    for i in range(1, len(m)):
        jp[i - 1, i] = math.sqrt(J * (J + 1) - m[i] * (m[i] + 1))
    return jz, jp, jp.T.copy()


@lru_cache(maxsize=8)
def _operator_stack(J: float) -> NDArray[np.complex128]:
    """All O_k^q for k = 2, 4, 6 stacked in KQ order (read-only, cached per J)."""
    _, jp, jm = angular_momentum(J)
    ops = []
    for k in RANKS:
        poly = _monomial(0, 0, 0)
        for _ in range(k):
            poly = _shift_up(poly, 0) + 1j * _shift_up(poly, 1)
        chain_p, chain_o = [poly], [np.linalg.matrix_power(jp, k)]
        for m in range(k, -k, -1):  # normalised lowering keeps numbers O(1)
            norm = math.sqrt((k + m) * (k - m + 1))
            chain_p.append(_lower(chain_p[-1]) / norm)
            chain_o.append((jm @ chain_o[-1] - chain_o[-1] @ jm) / norm)
        basis = np.stack([p.ravel() for p in chain_p], axis=1)
        for q in range(-k, k + 1):
            target = _stevens_polynomial(k, q).ravel()
            coeff, *_ = np.linalg.lstsq(basis, target, rcond=None)
            if np.linalg.norm(basis @ coeff - target) > 1e-9 * np.linalg.norm(target):
                raise RuntimeError(f"p_{k}{q} is not a rank-{k} harmonic (internal error)")
            op = np.tensordot(coeff, np.stack(chain_o), axes=1)
            ops.append(0.5 * (op + op.conj().T))
    stack = np.stack(ops)
    stack.setflags(write=False)
    return stack


def stevens_operators(J: float = J_DY) -> dict[tuple[int, int], NDArray[np.complex128]]:
    """Stevens operators O_k^q (k = 2, 4, 6; q = -k..k) as (2J+1)^2 matrices, M_J descending.

    q < 0 are the sine-type operators, e.g. O_2^-2 = (J+^2 - J-^2) / 2i.
    """
    stack = _operator_stack(float(J))
    return {kq: stack[i].copy() for i, kq in enumerate(KQ)}


# --- crystal-field parameters from point charges -------------------------------------------


@lru_cache(maxsize=1)
def _evaluation_tables() -> dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]]:
    """Per rank: monomial exponents and (2k+1, n_mono) coefficients incl. all constants.

    Row q holds -theta_k <r^k> E_h (4 pi/(2k+1)) C_kq^2 p_kq, so that B_k^q is a dot product.
    """
    tables = {}
    for k in RANKS:
        expo = np.array([(a, b, k - a - b) for a in range(k + 1) for b in range(k + 1 - a)])
        rows = []
        for q in range(-k, k + 1):
            poly = _stevens_polynomial(k, q).real
            const = -STEVENS_THETA[k] * R_K_DY[k] * HARTREE_CM * 4 * math.pi / (2 * k + 1)
            const *= hutchings_prefactor(k, q) ** 2
            rows.append(const * poly[expo[:, 0], expo[:, 1], expo[:, 2]])
        tables[k] = (expo, np.array(rows))
    return tables


def _check_charges(positions: ArrayLike, charges: ArrayLike) -> tuple[NDArray, NDArray]:
    pos = np.asarray(positions, dtype=float).reshape(-1, 3)
    chg = np.asarray(charges, dtype=float).ravel()
    if len(pos) != len(chg):
        raise ValueError(f"{len(pos)} positions but {len(chg)} charges")
    if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(chg))):
        raise ValueError("positions and charges must be finite")
    if len(pos) and np.min(np.linalg.norm(pos, axis=1)) < MIN_DISTANCE_ANGSTROM:
        raise ValueError(
            f"a charge lies within {MIN_DISTANCE_ANGSTROM} A of Dy (origin): "
            "pass positions relative to Dy and leave Dy's own charge out"
        )
    return pos, chg


def cf_parameter_vector(positions_angstrom: ArrayLike, charges: ArrayLike) -> NDArray[np.float64]:
    """B_k^q (cm^-1) in KQ order for point charges (units of e) around Dy3+ at the origin."""
    pos, chg = _check_charges(positions_angstrom, charges)
    dist = np.linalg.norm(pos, axis=1) / BOHR_ANGSTROM
    unit = pos / np.linalg.norm(pos, axis=1)[:, None] if len(pos) else pos
    powers = unit[:, :, None] ** np.arange(_NPOLY)  # (N, 3, 7)
    out = []
    for k, (expo, table) in _evaluation_tables().items():
        mono = powers[:, 0, expo[:, 0]] * powers[:, 1, expo[:, 1]] * powers[:, 2, expo[:, 2]]
        out.append(table @ (mono.T @ (chg / dist ** (k + 1))))
    return np.concatenate(out)


def cf_parameters(
    positions_angstrom: ArrayLike, charges: ArrayLike
) -> dict[tuple[int, int], float]:
    """B_k^q (cm^-1) keyed by (k, q); H = sum B_k^q O_k^q. Positions are relative to Dy."""
    vec = cf_parameter_vector(positions_angstrom, charges)
    return {kq: float(b) for kq, b in zip(KQ, vec, strict=True)}


# --- spectrum ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KDSpectrum:
    """Eigen-structure of the J = 15/2 crystal-field Hamiltonian (energies in cm^-1)."""

    energies: NDArray[np.float64]  # (16,) ascending, ground = 0
    kd_energies: NDArray[np.float64]  # (8,) doublet means, ground = 0
    gaps: NDArray[np.float64]  # (7,) Delta E_0i = E(KD i) - E(KD 0), i = 1..7
    g_principal: NDArray[np.float64]  # (3,) ground-KD (gx, gy, gz) ascending; NaN if ill-defined
    mj: NDArray[np.float64]  # (16,) basis M_J values, descending
    kd_mj_weights: NDArray[np.float64]  # (8, 16) weight of each M_J in each KD (rows sum to 1)

    @property
    def abs_mj(self) -> NDArray[np.float64]:
        """|M_J| values 1/2 .. 15/2 (columns of abs_mj_weights)."""
        return np.abs(self.mj[self.mj > 0])[::-1]

    @property
    def abs_mj_weights(self) -> NDArray[np.float64]:
        """(8, 8) weight of each |M_J| (ascending) in each KD; pairs +M_J with -M_J."""
        w = self.kd_mj_weights
        pos = w[:, self.mj > 0][:, ::-1]
        neg = w[:, self.mj < 0]
        return pos + neg

    @property
    def mean_abs_mj(self) -> NDArray[np.float64]:
        """<|M_J|> of each KD: 7.5 is a pure easy-axis doublet, 0.5 a pure easy-plane one."""
        return self.abs_mj_weights @ self.abs_mj


def _bkq_vector(bkq: Mapping[tuple[int, int], float] | ArrayLike) -> NDArray[np.float64]:
    if isinstance(bkq, Mapping):
        unknown = set(bkq) - set(KQ)
        if unknown:
            raise ValueError(f"unsupported (k, q): {sorted(unknown)}")
        return np.array([float(bkq.get(kq, 0.0)) for kq in KQ])
    vec = np.asarray(bkq, dtype=float).ravel()
    if vec.shape != (len(KQ),):
        raise ValueError(f"expected {len(KQ)} B_k^q in KQ order, got shape {vec.shape}")
    return vec


def hamiltonian(bkq: Mapping[tuple[int, int], float] | ArrayLike) -> NDArray[np.complex128]:
    """H = sum_kq B_k^q O_k^q for J = 15/2 (cm^-1), M_J descending basis."""
    return np.tensordot(_bkq_vector(bkq), _operator_stack(J_DY), axes=1)


def ground_g_tensor(doublet: NDArray[np.complex128], J: float = J_DY) -> NDArray[np.float64]:
    """Principal g of an effective spin-1/2 doublet (2J+1, 2): g_ab = g_J Tr(<J_a> sigma_b).

    Zeeman g_J mu_B B.J projected on the doublet equals mu_B B.g.S with S = sigma / 2;
    The singular values of g (= sqrt(eig(g g^T)), accurate for tiny g) do not depend on the
    basis chosen inside the doublet.
    """
    jz, jp, jm = angular_momentum(J)
    spin = (0.5 * (jp + jm), -0.5j * (jp - jm), jz)
    pauli = (
        np.array([[0, 1], [1, 0]], dtype=complex),
        np.array([[0, -1j], [1j, 0]]),
        np.array([[1, 0], [0, -1]], dtype=complex),
    )
    proj = [doublet.conj().T @ ja @ doublet for ja in spin]
    g = np.array([[np.trace(pa @ sb).real for sb in pauli] for pa in proj]) * G_J_DY
    return np.sort(np.linalg.svd(g, compute_uv=False))


def kd_spectrum(bkq: Mapping[tuple[int, int], float] | ArrayLike) -> KDSpectrum:
    """Diagonalise H: energies, Kramers doublets, gaps, ground g-tensor, M_J make-up.

    Levels pair up as (0, 1), (2, 3), ... (Kramers' theorem for odd-electron Dy3+). The g-tensor
    is NaN when the ground doublet is degenerate with the next one (no field).
    """
    energies, vectors = np.linalg.eigh(hamiltonian(bkq))
    energies = energies - energies[0]
    kd = energies.reshape(8, 2).mean(axis=1)
    weights = (np.abs(vectors) ** 2).T.reshape(8, 2, -1).mean(axis=1)
    scale = max(float(energies[-1]), 1.0)
    if kd[1] - kd[0] > 1e-9 * scale:
        g = ground_g_tensor(vectors[:, :2])
    else:
        g = np.full(3, np.nan)
    return KDSpectrum(
        energies=energies,
        kd_energies=kd,
        gaps=kd[1:] - kd[0],
        g_principal=g,
        mj=mj_values(J_DY),
        kd_mj_weights=weights,
    )


def kd_spectrum_from_geometry(positions_angstrom: ArrayLike, charges: ArrayLike) -> KDSpectrum:
    """Point charges (positions relative to Dy, Angstrom; charges in e) -> KD spectrum."""
    return kd_spectrum(cf_parameter_vector(positions_angstrom, charges))


def kd_gaps_from_geometry(positions_angstrom: ArrayLike, charges: ArrayLike) -> NDArray[np.float64]:
    """The seven gaps Delta E_0i (cm^-1) of the KD ladder for a point-charge environment."""
    return kd_spectrum_from_geometry(positions_angstrom, charges).gaps
