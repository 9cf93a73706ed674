"""A cycle's memory: the cyclic collector paused while it runs, what it freed given back to
the system afterwards (glibc's ``malloc_trim``)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _find_malloc_trim() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


_MALLOC_TRIM = _find_malloc_trim()


def release_memory() -> None:
    """Give the memory a cycle freed back to the system.

    A large cycle (onboarding 10,000 leads, or the next one, which reads back the 120,000
    tasks onboarding created) builds and drops a great many objects. Python frees them at
    once, but glibc keeps the freed pages in the process (when this was written, 200 MB
    between cycles instead of 105 MB). ``malloc_trim(0)`` hands them back; it costs a few
    milliseconds.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


# During a cycle: a young-generation collection every 100,000 new container objects
# instead of every 700, and the older generations only as rarely as that.
CYCLE_THRESHOLDS = (100_000, 50, 100)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector mostly paused for the duration (one cycle).

    A cycle of a 10,000-lead sheet builds a few hundred thousand objects that live until
    its end (task records, tasks, cells); with the default thresholds the collector walks
    them again each time the young generations overflow, about 30% of a large cycle's
    CPU (issue 13). Nearly everything a cycle builds is freed by reference counting the
    moment it is dropped; the reference cycles it leaves (each HTTP exchange leaves a
    few, with its body) are still collected every 100,000 allocations, so an onboarding's
    1,200 requests do not pile up: switching the collector off altogether cost 80 MB.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(*CYCLE_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        _collect()


# The state kept between cycles (the state store's 120,000 task records, the last read's
# leads, the last plan's decisions) is a few hundred thousand objects the collector would
# walk in every full collection: 0.1-0.3 s per cycle at 10,000 leads. What survives a
# cycle's full collection is moved out of its sight (``gc.freeze``); every
# ``UNFREEZE_EVERY`` cycles it is put back and collected in full, so reference cycles among
# objects dropped meanwhile wait at most that long.
UNFREEZE_EVERY = 64
_collections = 0


def _collect() -> None:
    """The cycle's leftover reference cycles, collected before memory is given back."""
    global _collections
    _collections += 1
    if _collections % UNFREEZE_EVERY == 0:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
