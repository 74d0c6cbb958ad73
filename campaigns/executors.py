"""How calculations fan out. Round logic only sees `Executor.map(calc, items)`.

`SerialExecutor` runs in-process (tests, tiny campaigns); `LocalExecutor` uses a local spawn
process pool. The Parsl executors (local HTEX, Slurm, PBS) in flows/ implement the same method,
so the round logic never imports a workflow engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Protocol

from calculators.base import CalcResult, Calculator
from calculators.batch import single_threaded_children


class Executor(Protocol):
    def map(self, calc: Calculator, items: Sequence[str]) -> Iterator[CalcResult]:
        """Yield one result per item, in completion order (each result carries its key)."""
        ...


def _run(calc: Calculator, item: str) -> CalcResult:
    return calc.run(item)


@dataclass
class SerialExecutor:
    def map(self, calc: Calculator, items: Sequence[str]) -> Iterator[CalcResult]:
        for item in items:
            yield calc.run(item)


@dataclass
class LocalExecutor:
    """A spawn process pool with a bounded number of tasks in flight (memory stays flat)."""

    workers: int = 2
    max_in_flight: int = 64

    def map(self, calc: Calculator, items: Sequence[str]) -> Iterator[CalcResult]:
        if self.workers <= 1:
            yield from SerialExecutor().map(calc, items)
            return
        todo = iter(items)
        with single_threaded_children():
            pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
        with pool:
            running = set()
            for item in todo:
                running.add(pool.submit(_run, calc, item))
                if len(running) >= self.max_in_flight:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    yield from (f.result() for f in done)
            for fut in running:
                yield fut.result()
