"""What this process has used: its peak resident memory (for build reports and benchmarks)."""
from __future__ import annotations

import sys


def peak_rss_mb() -> float:
    """The process's peak resident set size in MB (``getrusage``: KB on Linux, bytes on macOS); NaN elsewhere."""
    try:
        import resource
    except ImportError:  # not on a Unix
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)
