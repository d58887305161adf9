"""How many threads PyTorch (and the BLAS/OpenMP libraries under it) should use: the cores actually free.

PyTorch starts one thread per core it can see. On a machine another process keeps busy, those threads fight
it for the same cores and a training run or an upload gets many times slower than with fewer threads (measured
in the README). ``free_cores`` counts the cores this process may run on (``os.sched_getaffinity``: a container's
or ``taskset``'s limit, not the machine's) minus the load of everything else (``os.getloadavg``, the last
minute's run-queue length), at least one. ``configure_threads`` applies it before torch is imported (the
``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` variables it reads at start-up) and, when torch is already loaded, through
``torch.set_num_threads``. A thread count the user set (``OMP_NUM_THREADS`` or ``CTL_THREADS``) always wins.

Benchmarks must not follow the load: a run right after another job would see that job's load in the 1-minute
average and measure one thread against an earlier two-thread figure. ``benchmark_threads`` is the user's count when
one was set, else every usable core; ``use_threads`` applies a count to a running torch.
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


def user_threads(environ: dict | None = None) -> int | None:
    """The thread count the user set: ``CTL_THREADS``, else ``OMP_NUM_THREADS`` unless this module wrote it (a
    process started by one of ours inherits the variable with ``CTL_THREADS_CHOSEN_BY``); None when the user set
    none, or set something that is not a positive integer."""
    env = os.environ if environ is None else environ
    chosen = env.get("CTL_THREADS")
    if not chosen and env.get("CTL_THREADS_CHOSEN_BY") != "ctl_core":
        chosen = env.get("OMP_NUM_THREADS")
    try:
        return max(1, int(chosen)) if chosen else None
    except ValueError:
        return None


def benchmark_threads() -> int:
    """Threads for a benchmark: the user's count when one was set, else every usable core (never the load's)."""
    return user_threads() or usable_cores()


def use_threads(n: int) -> int:
    """Set a running torch (imported here if needed) to ``n`` intra-op threads; returns ``n``."""
    import torch
    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def torch_threads() -> int | None:
    """The intra-op thread count of torch when it is loaded in this process, else None (torch is not imported)."""
    return int(sys.modules["torch"].get_num_threads()) if "torch" in sys.modules else None


def configure_threads(environ: dict | None = None, set_torch: bool = True) -> int:
    """Set the thread count of torch and the libraries under it to ``CTL_THREADS``, ``OMP_NUM_THREADS`` or
    ``free_cores()``, in that order; returns it. ``set_torch`` False: only the variables of ``environ``."""
    env = os.environ if environ is None else environ
    user = user_threads(env)
    n = user or free_cores()
    if environ is None and user is None:  # later reads here and in child processes: our pick, not the user's
        env["CTL_THREADS_CHOSEN_BY"] = "ctl_core"
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, str(n))
    if set_torch and "torch" in sys.modules:  # already started: its pools read the variables only once
        use_threads(n)
    return n
