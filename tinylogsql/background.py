"""Background threads (merges, persists, compactions, checkpoints) run at a lower OS priority, so a
committing thread gets a core first: on 2 cores the slow single-op commits waited for the CPU
beside them, not for work of their own (issue 18, p99.9 commit latency during a 1M build)."""

from __future__ import annotations

import os
import sys
import threading

NICE = 10
"""How much nicer than the process a background thread is (Linux: a thread's own nice value; a
nice-10 thread gets about a tenth of a core a nice-0 thread wants as well, not nothing)."""


def lower_priority() -> None:
    """Make the calling thread nicer by NICE (Linux only, where nice is per thread; elsewhere
    nothing: it would renice the whole process). Best effort: a failure leaves it as it was."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + NICE))
    except OSError:
        pass
