"""The front's garbage collector: set for latency once the front has started, and its pauses measured.

CPython's full collection (generation 2) walks every tracked object in the process, and in the front nearly all
of them are what start-up made and never frees: the modules, SQLAlchemy's and aiogram's models and compiled
statements, the catalogs. Measured under `bench/load.py --users 1000` (python-svc, before this module): 8 full
collections in an 8 s run, 175 ms each at the median and 222 ms at most, 14% of the front's CPU, and each one
stalls every request in flight: the acknowledgement tail (p99 357-384 ms against p50 120 ms).

`gc.freeze()` moves what exists after start-up out of the collector's sight (reference counting still frees it
if it is ever released); what is made later is collected as before. A larger first threshold lets most of
a request's garbage die young by reference counting before any collection looks at it, so fewer objects
are promoted towards the full collections. Afterwards, in the same run: no full collection, the young
collections a few milliseconds each.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

# gen0 allocations before a young collection (CPython's default 700), then the default 10 and 10 between
# generations.
THRESHOLDS = (10_000, 10, 10)


def settle_after_start() -> None:
    """Collect start-up's garbage once, then keep what remains out of later collections."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


class PauseWatch:
    """Hands `observe(generation, seconds)` the length of each collection while attached. The callback list
    is the process's, so one watch per process (`app.serve`) and detached when the process stops serving."""

    def __init__(self, observe: Callable[[int, float], None], clock: Callable[[], float] = time.perf_counter):
        self._observe, self._clock = observe, clock
        self._began = 0.0

    def attach(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def detach(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = self._clock()
        else:
            self._observe(int(info["generation"]), self._clock() - self._began)
