"""How the offline stages run: the engine (``local`` or ``ray``) and the Ray job's knobs, as one frozen config."""
from __future__ import annotations

from dataclasses import dataclass

ENGINES = ("local", "ray")


class EngineError(ValueError):
    """An engine option that cannot work (unknown engine, bad count, unreachable Ray cluster)."""


@dataclass(frozen=True)
class EngineConfig:
    """Where catalogue inference, index builds and the feature cache run.

    ``engine``: ``local`` (one process, today's code) or ``ray`` (Ray Data). The rest applies to ``ray`` only:
    ``address``: None starts a local Ray instance on this machine (``num_cpus`` CPUs, default all); anything else
    (``auto``, ``HOST:6379``, ``ray://HOST:10001``) joins that existing cluster. ``actors``: size of the inference
    actor pool (None: one per GPU when the cluster has GPUs, else 2). ``batch_size``: images per forward pass in an
    actor. ``decode_batch_size``: images per decode call in a CPU task. ``gpus_per_actor``: None means 1 when the
    cluster has GPUs, else 0. ``actor_cpus``/``decode_cpus``: logical CPUs each actor / decode task reserves
    (None: chosen from the cluster so decode tasks always have room). ``torch_threads``: per CPU actor (None: its
    reserved CPUs, at least 1). ``progress_bars``: Ray Data's progress bars. ``device``: the local engine's device.
    """

    engine: str = "local"
    address: str | None = None
    actors: int | None = None
    batch_size: int = 32
    decode_batch_size: int = 32
    num_cpus: int | None = None
    gpus_per_actor: float | None = None
    actor_cpus: float | None = None
    decode_cpus: float | None = None
    torch_threads: int | None = None
    progress_bars: bool = True
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise EngineError(f"unknown engine {self.engine!r}; use one of {', '.join(ENGINES)}")
        for name in ("actors", "batch_size", "decode_batch_size", "num_cpus", "torch_threads"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise EngineError(f"{name.replace('_', '-')} must be at least 1, got {v}")
        for name in ("gpus_per_actor", "actor_cpus", "decode_cpus"):
            v = getattr(self, name)
            if v is not None and float(v) < 0:
                raise EngineError(f"{name.replace('_', '-')} cannot be negative, got {v}")

    @property
    def is_ray(self) -> bool:
        return self.engine == "ray"


LOCAL = EngineConfig()
