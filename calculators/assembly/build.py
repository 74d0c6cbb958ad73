"""molSimplify's legacy generator: the raw [M(H2O)5L2] build and `assemble`, which checks it.

The generator places five waters in the equatorial plane and the two identical ligands L on the
axis, every M-L bond at 2.40 A (2.42 A for N). `assemble` then re-identifies every atom
(identify.py), turns each L to point its lone pair at the metal (orient.py) and checks the shape
(checks.py).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np

from calculators.assembly.checks import check_composition, check_geometry
from calculators.assembly.complex import METAL_MULTIPLICITY, METAL_OXSTATE, N_WATERS, Complex
from calculators.assembly.identify import complex_from_geometry, label_atoms
from calculators.assembly.orient import orient_ligands
from calculators.base import CalculationFailed
from gauss import chem

# molSimplify mutates process state (stdout, cwd, globals): one build at a time per process.
_MOLSIMPLIFY_LOCK = threading.Lock()


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


def _molsimplify_blocks(n_atoms: int) -> list[list[int]]:
    """Atom ranges of molSimplify's output order: metal, 5 x (O, H, H), L, L."""
    n_lig = (n_atoms - 1 - 3 * N_WATERS) // 2
    waters = [list(range(1 + 3 * k, 4 + 3 * k)) for k in range(N_WATERS)]
    first = 1 + 3 * N_WATERS
    return [*waters, list(range(first, first + n_lig)), list(range(first + n_lig, n_atoms))]


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
    check_composition(elements, mol, metal, smiles)
    labels = label_atoms(tuple(elements), xyz, metal, mol, _molsimplify_blocks(len(elements)))
    xyz = orient_ligands(tuple(elements), xyz, labels)
    method = f"molsimplify-{version('molsimplify')}+lone-pair-aligned"
    cx = complex_from_geometry(lig.smiles, metal, elements, xyz, method)
    if ms_charge != cx.charge:
        raise CalculationFailed(
            f"molSimplify charge {ms_charge:+d} differs from expected {cx.charge:+d} for {smiles!r}"
        )
    check_geometry(cx)
    return cx
