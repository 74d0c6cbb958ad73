"""Plain XYZ files (Angstrom): the one writer and reader every calculator uses.

Atom lines are the symbol, left-justified in `symbol_width` columns, then three coordinates with
eight decimals, each right-justified in `width` columns after one space. The two widths are
parameters because the texts already written are kept byte for byte: symbol 2 / coordinate 14
for the assembled complexes (their geometry.xyz files, tests/fixtures/openmolcas_kd), 2 / 15
inside ORCA inputs (tests/unit/test_orca.py pins it), 3 / 15 in OpenMolcas Coord files
(tests/fixtures/openmolcas/real_h2o.xyz). Symbols are written capitalised, as `read_xyz` reads
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols

WIDTH = 15  # columns per coordinate after its separating space (ORCA, OpenMolcas)
SYMBOL_WIDTH = 2  # columns of the element symbol before the first coordinate's space


class XYZError(ValueError):
    """Text that is not a plain XYZ file (the message names the file, line and value)."""


def xyz_lines(
    elements: Sequence[str],
    coordinates: Sequence[Sequence[float]],
    width: int = WIDTH,
    symbol_width: int = SYMBOL_WIDTH,
) -> list[str]:
    """One `El x y z` line per atom; a space separates the fields even if a number overflows."""
    return [
        f"{el.capitalize():<{symbol_width}s} {x:{width}.8f} {y:{width}.8f} {z:{width}.8f}"
        for el, (x, y, z) in zip(elements, coordinates, strict=True)
    ]


def xyz_text(
    elements: Sequence[str],
    coordinates: Sequence[Sequence[float]],
    comment: str,
    width: int = WIDTH,
    symbol_width: int = SYMBOL_WIDTH,
) -> str:
    """The whole file: atom count, a one-line comment, the atom lines."""
    if "\n" in comment:
        raise ValueError("an XYZ comment must be a single line")
    rows = xyz_lines(elements, coordinates, width, symbol_width)
    return "\n".join([str(len(rows)), comment, *rows]) + "\n"


def write_xyz(
    path: str | Path,
    elements: Sequence[str],
    coordinates: Sequence[Sequence[float]],
    comment: str,
    width: int = WIDTH,
    symbol_width: int = SYMBOL_WIDTH,
) -> Path:
    """Write `xyz_text` to path; the path comes back so a caller can log or return it."""
    path = Path(path)
    path.write_text(xyz_text(elements, coordinates, comment, width, symbol_width))
    return path


def read_xyz(path: str | Path) -> tuple[tuple[str, ...], np.ndarray]:
    """Elements and (n, 3) coordinates of a plain XYZ file; XYZError names what is unreadable."""
    lines = Path(path).read_text().splitlines()
    if len(lines) < 3:
        raise XYZError(f"{path}: an XYZ file needs a count line, a comment line and atoms")
    try:
        count = int(lines[0].split()[0])
    except (IndexError, ValueError):
        raise XYZError(f"{path}: first line {lines[0]!r} is not an atom count") from None
    rows = [line for line in lines[2:] if line.strip()]
    if len(rows) != count:
        raise XYZError(f"{path}: count line says {count} atoms, {len(rows)} atom lines follow")
    elements, xyz = [], []
    for n, row in enumerate(rows, start=3):
        parts = row.split()
        symbol = parts[0].capitalize() if parts else ""
        if symbol not in chemical_symbols[1:]:
            raise XYZError(f"{path} line {n}: {parts[0] if parts else ''!r} is not an element")
        try:
            xyz.append([float(v) for v in parts[1:4]])
        except ValueError:
            raise XYZError(f"{path} line {n}: coordinates {parts[1:4]} are not numbers") from None
        if len(parts) < 4 or not np.all(np.isfinite(xyz[-1])):
            raise XYZError(f"{path} line {n}: need an element and three finite coordinates")
        elements.append(symbol)
    return tuple(elements), np.asarray(xyz, dtype=float)
