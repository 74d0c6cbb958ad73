"""Point-charge crystal-field model of Dy3+ 6H15/2: operators, parameters, spectrum, physics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import sph_harm_y
from sympy import Rational
from sympy.physics.wigner import wigner_3j

from calculators import crystal_field as cf

J = 7.5
X = J * (J + 1)
EQ_ANGLES = np.arange(5) * 2 * np.pi / 5


def _mp(a: np.ndarray, n: int) -> np.ndarray:
    return np.linalg.matrix_power(a, n)


def _sym(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(ab + ba) / 4: the Stevens-table symmetrisation of a Jz polynomial with J+^q +- J-^q."""
    return (a @ b + b @ a) / 4


def _explicit_forms(j: float) -> dict[tuple[int, int], np.ndarray]:
    """Literature Stevens operators (Stevens 1952, Hutchings 1964) written out by hand."""
    x = j * (j + 1)
    jz, jp, jm = cf.angular_momentum(j)
    one = np.eye(len(jz))
    cos = {q: _mp(jp, q) + _mp(jm, q) for q in range(1, 7)}
    sin = {q: (_mp(jp, q) - _mp(jm, q)) / 1j for q in range(1, 7)}
    return {
        (2, 0): 3 * _mp(jz, 2) - x * one,
        (2, 1): _sym(jz, cos[1]),
        (2, 2): cos[2] / 2,
        (2, -2): sin[2] / 2,
        (4, 0): 35 * _mp(jz, 4) - (30 * x - 25) * _mp(jz, 2) + (3 * x * x - 6 * x) * one,
        (4, 1): _sym(7 * _mp(jz, 3) - (3 * x + 1) * jz, cos[1]),
        (4, 2): _sym(7 * _mp(jz, 2) - (x + 5) * one, cos[2]),
        (4, -3): _sym(jz, sin[3]),
        (4, 4): cos[4] / 2,
        (4, -4): sin[4] / 2,
        (6, 0): 231 * _mp(jz, 6)
        - (315 * x - 735) * _mp(jz, 4)
        + (105 * x * x - 525 * x + 294) * _mp(jz, 2)
        + (-5 * x**3 + 40 * x * x - 60 * x) * one,
        (6, 1): _sym(
            33 * _mp(jz, 5) - (30 * x - 15) * _mp(jz, 3) + (5 * x * x - 10 * x + 12) * jz, cos[1]
        ),
        (6, 2): _sym(
            33 * _mp(jz, 4) - (18 * x + 123) * _mp(jz, 2) + (x * x + 10 * x + 102) * one, cos[2]
        ),
        (6, -3): _sym(11 * _mp(jz, 3) - (3 * x + 59) * jz, sin[3]),
        (6, 4): _sym(11 * _mp(jz, 2) - (x + 38) * one, cos[4]),
        (6, 5): _sym(jz, cos[5]),
        (6, 6): cos[6] / 2,
    }


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _random_environment(rng: np.random.Generator, n: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Low-symmetry point charges at 2.2-3.5 A, mostly negative, no symmetry at all."""
    directions = rng.normal(size=(n, 3))
    directions /= np.linalg.norm(directions, axis=1)[:, None]
    positions = directions * rng.uniform(2.2, 3.5, size=(n, 1))
    return positions, rng.uniform(-1.0, 0.3, size=n)


def _bipyramid(axial: float, water_charge: float = -0.3) -> tuple[np.ndarray, np.ndarray]:
    ring = np.c_[2.4 * np.cos(EQ_ANGLES), 2.4 * np.sin(EQ_ANGLES), np.zeros(5)]
    positions = np.vstack([ring, [[0, 0, axial], [0, 0, -axial]]])
    return positions, np.array([water_charge] * 5 + [-1.0, -1.0])


# --- Stevens operators ---------------------------------------------------------------------


def test_stevens_operators_hermitian_traceless_and_phased() -> None:
    ops = cf.stevens_operators(J)
    assert set(ops) == set(cf.KQ) and len(ops) == 27
    for (_, q), op in ops.items():
        assert op.shape == (16, 16)
        np.testing.assert_allclose(op, op.conj().T, atol=1e-9)
        assert abs(np.trace(op)) < 1e-8
        # Standard phases: cosine type real, sine type purely imaginary.
        assert np.abs(op.imag if q >= 0 else op.real).max() < 1e-8 * np.abs(op).max()


@pytest.mark.parametrize("j", [7.5, 4.0, 3.5])
def test_stevens_operators_match_explicit_forms(j: float) -> None:
    ops = cf.stevens_operators(j)
    for kq, expected in _explicit_forms(j).items():
        scale = max(np.abs(expected).max(), 1.0)
        np.testing.assert_allclose(ops[kq], expected, atol=1e-10 * scale, err_msg=str(kq))


def test_hutchings_prefactors_match_literature() -> None:
    pi = math.pi
    table = {
        (2, 0): math.sqrt(5 / pi) / 4,
        (2, 1): math.sqrt(15 / pi) / 2,
        (2, -2): math.sqrt(15 / pi) / 4,
        (4, 0): 3 / 16 * math.sqrt(1 / pi),
        (4, 1): 3 / 4 * math.sqrt(5 / (2 * pi)),
        (4, -2): 3 / 8 * math.sqrt(5 / pi),
        (4, 3): 3 / 4 * math.sqrt(35 / (2 * pi)),
        (4, 4): 3 / 16 * math.sqrt(35 / pi),
        (6, 0): 1 / 32 * math.sqrt(13 / pi),
        (6, -6): 1 / 64 * math.sqrt(6006 / pi),
    }
    for (k, q), value in table.items():
        assert cf.hutchings_prefactor(k, q) == pytest.approx(value, rel=1e-12), (k, q)


def test_dy_constants_match_notes() -> None:
    """Guard the constants the route tests share (a sign slip would pass both routes)."""
    assert cf.STEVENS_THETA == {2: -2 / 315, 4: -8 / 135135, 6: 4 / 3864861}
    assert cf.R_K_DY == {2: 0.849, 4: 1.977, 6: 10.44}
    assert (cf.HARTREE_CM, cf.BOHR_ANGSTROM, cf.G_J_DY) == (219474.63, 0.529177210903, 4 / 3)


# --- crystal-field parameters --------------------------------------------------------------


def test_single_axial_charge_gives_textbook_bk0() -> None:
    """On the z axis the potential is sum_k q r^k P_k(cos)/R^(k+1); p_k0 = s_k r^k P_k."""
    r_angstrom, charge = 2.5, -0.7
    bkq = cf.cf_parameters([[0.0, 0.0, r_angstrom]], [charge])
    r_bohr = r_angstrom / cf.BOHR_ANGSTROM
    for k, s_k in ((2, 2), (4, 8), (6, 16)):
        expected = -cf.STEVENS_THETA[k] * cf.R_K_DY[k] * cf.HARTREE_CM * charge
        expected /= s_k * r_bohr ** (k + 1)
        assert bkq[(k, 0)] == pytest.approx(expected, rel=1e-12)
    assert bkq[(2, 0)] < 0  # negative donor on the axis + oblate Dy: easy axis
    assert max(abs(b) for (_, q), b in bkq.items() if q != 0) < 1e-12


def _wigner_eckart_hamiltonian(positions: np.ndarray, charges: np.ndarray) -> np.ndarray:
    """Second route: complex Y_km (scipy) + Wigner-Eckart matrices (sympy 3j), no Stevens table.

    V = sum_i -q_i sum_k r^k/R_i^(k+1) sum_m conj(C_km(R_i)) C_km(r); inside J the operator
    equivalent of r^k C_k0 is theta_k <r^k> O_k^0 / s_k, which fixes each reduced element.
    """
    mj = [Rational(int(2 * J) - 2 * i, 2) for i in range(16)]
    jj = Rational(int(2 * J), 2)
    o_k0_top = {2: 3 * J**2 - X, 4: 35 * J**4 - (30 * X - 25) * J**2 + 3 * X * X - 6 * X}
    o_k0_top[6] = (
        231 * J**6
        - (315 * X - 735) * J**4
        + (105 * X * X - 525 * X + 294) * J**2
        - 5 * X**3
        + 40 * X * X
        - 60 * X
    )
    s_k = {2: 2, 4: 8, 6: 16}
    r_bohr = np.linalg.norm(positions, axis=1) / cf.BOHR_ANGSTROM
    theta = np.arccos(positions[:, 2] / np.linalg.norm(positions, axis=1))
    phi = np.mod(np.arctan2(positions[:, 1], positions[:, 0]), 2 * np.pi)
    h = np.zeros((16, 16), dtype=complex)
    for k in (2, 4, 6):
        reduced = o_k0_top[k] / s_k[k] / float(wigner_3j(jj, k, jj, -jj, 0, jj))
        for m in range(-k, k + 1):
            op = np.zeros((16, 16))
            for a, ma in enumerate(mj):
                for b, mb in enumerate(mj):
                    if ma == mb + m:
                        sign = (-1) ** int(jj - ma)
                        op[a, b] = sign * float(wigner_3j(jj, k, jj, -ma, m, mb)) * reduced
            c_km = np.sqrt(4 * np.pi / (2 * k + 1)) * sph_harm_y(k, m, theta, phi)
            lattice = np.sum(-charges * np.conj(c_km) / r_bohr ** (k + 1))
            h += cf.STEVENS_THETA[k] * cf.R_K_DY[k] * cf.HARTREE_CM * lattice * op
    return h


def test_hutchings_route_matches_wigner_eckart_route() -> None:
    positions, charges = _random_environment(np.random.default_rng(7))
    bkq = cf.cf_parameters(positions, charges)
    assert min(abs(bkq[(6, q)]) for q in range(-6, 7)) > 1e-9  # every term is exercised
    h_stevens = cf.hamiltonian(bkq)
    h_we = _wigner_eckart_hamiltonian(positions, charges)
    np.testing.assert_allclose(h_stevens, h_we, atol=1e-9 * np.abs(h_we).max())


# --- spectrum ------------------------------------------------------------------------------


def test_pure_b20_gives_3mj2_ladder_of_pm_mj_doublets() -> None:
    b20 = -2.0
    spec = cf.kd_spectrum({(2, 0): b20})
    abs_mj = np.arange(7.5, 0, -1.0)  # B20 < 0: largest |M_J| lowest
    levels = b20 * (3 * abs_mj**2 - X)
    np.testing.assert_allclose(spec.kd_energies, levels - levels[0], atol=1e-9)
    np.testing.assert_allclose(spec.energies[0::2], spec.energies[1::2], atol=1e-9)
    for i, m in enumerate(abs_mj):
        weights = spec.kd_mj_weights[i]
        assert weights[spec.mj == m] == pytest.approx(0.5) and weights[spec.mj == -m] == (
            pytest.approx(0.5)
        )


def test_every_level_is_a_kramers_doublet_for_random_low_symmetry() -> None:
    rng = np.random.default_rng(11)
    for _ in range(5):
        spec = cf.kd_spectrum_from_geometry(*_random_environment(rng))
        np.testing.assert_allclose(spec.energies[0::2], spec.energies[1::2], atol=1e-8)
        assert np.all(np.diff(spec.kd_energies) > 1e-3)  # doublets themselves are distinct
        np.testing.assert_allclose(spec.kd_mj_weights.sum(axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(spec.abs_mj_weights.sum(axis=0), 1.0, atol=1e-12)


def test_energies_and_g_invariant_under_rotation() -> None:
    rng = np.random.default_rng(3)
    positions, charges = _random_environment(rng)
    ref = cf.kd_spectrum_from_geometry(positions, charges)
    for _ in range(3):
        rotated = positions @ _random_rotation(rng).T
        spec = cf.kd_spectrum_from_geometry(rotated, charges)
        np.testing.assert_allclose(spec.energies, ref.energies, atol=1e-8)
        np.testing.assert_allclose(spec.g_principal, ref.g_principal, atol=1e-8)


def test_two_axial_donors_give_mj_15_2_ising_ground_doublet() -> None:
    spec = cf.kd_spectrum_from_geometry([[0, 0, 2.3], [0, 0, -2.3]], [-1.0, -1.0])
    assert spec.abs_mj_weights[0, -1] > 0.99  # |M_J| = 15/2
    gx, gy, gz = spec.g_principal
    assert 19.8 <= gz <= 20.0 + 1e-9
    assert gx < 1e-6 and gy < 1e-6
    assert spec.gaps[0] > 300.0


def test_equatorial_ring_gives_easy_plane_ground_state() -> None:
    ring = np.c_[2.4 * np.cos(EQ_ANGLES), 2.4 * np.sin(EQ_ANGLES), np.zeros(5)]
    spec = cf.kd_spectrum_from_geometry(ring, [-1.0] * 5)
    assert spec.mean_abs_mj[0] < 1.0  # essentially |M_J| = 1/2
    g_small, g_mid, g_large = spec.g_principal
    assert g_mid > 8.0 and g_large > 8.0 and g_small < 2.0  # g_perp >> g_par: easy plane


def test_first_gap_grows_as_axial_donors_approach() -> None:
    gaps = [cf.kd_gaps_from_geometry(*_bipyramid(d))[0] for d in (2.1, 2.2, 2.3, 2.4, 2.5)]
    assert np.all(np.diff(gaps) < 0), gaps
    axial_only = [
        cf.kd_gaps_from_geometry([[0, 0, d], [0, 0, -d]], [-1.0, -1.0])[0] for d in (2.2, 2.4)
    ]
    assert axial_only[0] > axial_only[1]


def test_g_tensor_independent_of_basis_inside_the_doublet() -> None:
    positions, charges = _random_environment(np.random.default_rng(5))
    _, vectors = np.linalg.eigh(cf.hamiltonian(cf.cf_parameters(positions, charges)))
    doublet = vectors[:, :2]
    mix = _random_rotation(np.random.default_rng(6))[:2, :2]
    unitary, _ = np.linalg.qr(mix + 1j * mix[::-1])
    np.testing.assert_allclose(
        cf.ground_g_tensor(doublet @ unitary), cf.ground_g_tensor(doublet), atol=1e-10
    )


def test_no_field_gives_undefined_g_and_bad_inputs_are_rejected() -> None:
    assert np.all(np.isnan(cf.kd_spectrum({}).g_principal))
    with pytest.raises(ValueError, match="within"):
        cf.cf_parameters([[0, 0, 0], [0, 0, 2.3]], [3.0, -1.0])
    with pytest.raises(ValueError, match="charges"):
        cf.cf_parameters([[0, 0, 2.3]], [-1.0, -1.0])
    with pytest.raises(ValueError, match="unsupported"):
        cf.kd_spectrum({(3, 0): 1.0})
