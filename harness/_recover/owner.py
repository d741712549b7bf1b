"""Which process runs a trial, and whether it is still alive.

A trial row names its owner as ``host pid start-time``. On its own host any run can tell at
once that the owner has died (no such process, or the pid now belongs to a process started
later): the trial is recovered without waiting out the heartbeat grace period. On other hosts
only the heartbeat can tell.
"""

from __future__ import annotations

import functools
import os
import socket

__all__ = ["owner_dead", "process_owner"]


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return fields[19]  # field 22 of stat(5): starttime
    except (OSError, IndexError):
        return None


@functools.cache
def _host() -> str:
    return socket.gethostname()


def process_owner(pid: int | None = None) -> str:
    """This process (or ``pid``) as a trial's owner."""
    pid = os.getpid() if pid is None else pid
    return f"{_host()} {pid} {_start_time(pid) or '?'}"


def owner_dead(owner: str | None) -> bool:
    """True when ``owner`` is a process on this host that no longer runs; False when it runs
    or cannot be judged from here (another host, no owner recorded)."""
    if not owner:
        return False
    host, _, rest = owner.partition(" ")
    pid_text, _, started = rest.partition(" ")
    if host != _host() or not pid_text.isdigit() or started in ("", "?"):
        return False
    return _start_time(int(pid_text)) != started
