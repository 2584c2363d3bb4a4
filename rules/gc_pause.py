"""Building a big rule set without the cyclic garbage collector running all the while.

Loading 20,000 rules makes millions of objects (YAML nodes, query trees, plans) and
frees almost none, so the collector's youngest generation fills again and again and
each pass walks a heap that only grows: with it paused, composing a 6 MB file took
1.2 s instead of 3.6 s. The objects made hold no cycles worth collecting meanwhile;
the collector runs as usual once the load is done.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause automatic garbage collection inside the block (nesting is fine)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
