"""Helper processes that never outlive the process that started them."""

from __future__ import annotations

import os
import threading
import time

__all__ = ["exit_with_parent"]

POLL_S = 0.5


def exit_with_parent() -> None:
    """End this process soon after its parent dies (even by SIGKILL): when the parent is gone
    the process is re-parented, its parent id changes, and a daemon thread that watches for
    that exits at once — instead of working on for a run that no longer listens (a trial
    worker training, a cache builder writing shards into an abandoned folder)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="harness-parent-watch", daemon=True).start()
