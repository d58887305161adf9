"""How many threads PyTorch (and the BLAS/OpenMP libraries under it) should use: the cores actually free.

PyTorch starts one thread per core it can see. On a machine another process keeps busy, those threads fight
it for the same cores and a training run or an upload gets many times slower than with fewer threads (measured
in the README). ``free_cores`` counts the cores this process may run on (``os.sched_getaffinity``: a container's
or ``taskset``'s limit, not the machine's) minus the load of everything else (``os.getloadavg``, the last
minute's run-queue length), at least one. ``configure_threads`` applies it before torch is imported (the
``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` variables it reads at start-up) and, when torch is already loaded, through
``torch.set_num_threads``. A thread count the user set (``OMP_NUM_THREADS`` or ``CTL_THREADS``) always wins.
"""
from __future__ import annotations

import os
import sys


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def free_cores(load: float | None = None, cores: int | None = None) -> int:
    """Usable cores minus the recent load of other processes (rounded), at least 1."""
    cores = usable_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cores, int(cores - load + 0.5)))


def configure_threads(environ: dict | None = None, set_torch: bool = True) -> int:
    """Set the thread count of torch and the libraries under it to ``CTL_THREADS``, ``OMP_NUM_THREADS`` or
    ``free_cores()``, in that order; returns it. ``set_torch`` False: only the variables of ``environ``."""
    env = os.environ if environ is None else environ
    chosen = env.get("CTL_THREADS") or env.get("OMP_NUM_THREADS")
    try:
        n = max(1, int(chosen)) if chosen else free_cores()
    except ValueError:
        n = free_cores()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, str(n))
    if set_torch and "torch" in sys.modules:  # already started: its pools read the variables only once
        import torch
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
    return n
