"""Run any calculator over many ligands in a local process pool, keeping every row.

Used by the `gauss calc … --in/--out` batch mode and by corpus labelling. Rows come back in
input order; a bad SMILES or a failed calculation becomes a failed row with its reason.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

from tqdm import tqdm

from calculators.base import Calculator
from gauss import chem

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def result_row(calc: Calculator, smiles: str, value_names: Sequence[str] = ()) -> dict[str, Any]:
    """One table row; a bad SMILES becomes a failed row rather than an exception."""
    row: dict[str, Any] = dict(smiles=smiles, method=calc.method) | dict.fromkeys(value_names)
    try:
        result = calc.run(smiles)
    except chem.LigandError as exc:
        return row | dict(key=None, status="failed", reason=str(exc), failure_kind="input")
    return row | dict(
        key=result.key,
        status=result.status,
        reason=result.reason,
        failure_kind=result.failure_kind,
        wall_seconds=result.wall_seconds,
        **result.values,
    )


@contextlib.contextmanager
def single_threaded_children() -> Iterator[None]:
    """Spawned workers copy os.environ at start, before libgomp reads its thread count."""
    saved = {name: os.environ.get(name) for name in THREAD_VARS}
    os.environ.update({name: "1" for name in THREAD_VARS})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_many(
    calc: Calculator,
    smiles_list: Sequence[str],
    workers: int = 2,
    progress: bool = True,
    value_names: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Rows for every SMILES, in order, computed in a spawn process pool (one thread each)."""
    job = functools.partial(result_row, calc, value_names=tuple(value_names))
    bar = dict(total=len(smiles_list), desc=calc.name, unit="lig", disable=not progress)
    if workers <= 1 or len(smiles_list) <= 1:
        return list(tqdm(map(job, smiles_list), **bar))
    chunksize = max(1, min(32, len(smiles_list) // (workers * 8)))
    with single_threaded_children():
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            return list(tqdm(pool.map(job, smiles_list, chunksize=chunksize), **bar))
