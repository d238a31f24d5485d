"""A benchmark process's own memory, as Linux reports it (in KiB), in MiB."""

from __future__ import annotations

import resource
from pathlib import Path


def rss_mib() -> float:
    """This process's resident memory now (VmRSS in /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (`ru_maxrss`)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
