"""Progress reporting shared by the CLI: one tqdm bar per stage, driven by ``progress(stage, done, total)``."""
from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm

Progress = Callable[[str, int, int], None]


class TqdmProgress:
    """A ``progress(stage, done, total)`` callable that shows one tqdm bar per stage on stderr."""

    def __init__(self, disable: bool = False):
        self._bar: tqdm | None = None
        self._stage: str | None = None
        self.disable = disable

    def __call__(self, stage: str, done: int, total: int) -> None:
        if total <= 0:  # nothing to do in this stage (e.g. every feature already cached)
            return
        if stage != self._stage or self._bar is None:
            self.close()
            self._stage = stage
            self._bar = tqdm(total=total, desc=stage, file=sys.stderr, disable=self.disable, dynamic_ncols=True,
                             leave=True)
        if self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        self._bar.refresh()
        if done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._stage = None
