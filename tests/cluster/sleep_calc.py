"""A calculator that only takes time: Slurm drills import it on the workers (from tests/cluster).

Kept apart from the test modules, which import `tests.conftest`: a `tests` package installed in
site-packages by a dependency shadows ours on the workers.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from calculators.base import CalcResult, run_embedded


@dataclass(frozen=True)
class SleepCalc:
    """Takes `seconds` per item and returns no values."""

    seconds: float
    name = "sleep"
    version = "1"
    method = "sleep, test calculator"

    def canonical_input(self, item: str) -> dict:
        return {"item": item}

    def run(self, item: str, workdir: Path | None = None) -> CalcResult:
        return run_embedded(self, item, lambda _: time.sleep(self.seconds) or {}, {}, {})
