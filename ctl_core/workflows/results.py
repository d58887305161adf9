"""Results files under ``docs/results/``: one JSON and one Markdown file per measured table, each stamped.

A stamp says where a figure comes from: the commit (and whether the tree had uncommitted changes), the date, the
machine (CPU cores, GPU, load average before and after) and the exact command. ``write_result`` writes
``<name>.json`` (stamp + data) and ``<name>.md`` (a stamp line, then the table). The README quotes these files in
marked blocks:

    <!-- results: docs/results/table4_demo.md -->
    ...the body of that file, copied verbatim by ``sync_readme`` (``report`` does it after writing)...
    <!-- /results -->

    <!-- quote: docs/results/cleanup_demo.md -->2,622 outfits (2,229 train, 393 test)<!-- /quote -->

``readme_problems`` lists every block whose text differs from its file's body, and every number in a quote block
that its file does not hold (tests/ctl_core/workflows/test_report.py fails on them).
"""
from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ctl_core.config import PROJECT_ROOT
from ctl_core.io import atomic_write_json, atomic_write_text
from ctl_core.threads import torch_threads

RESULTS_DIR = PROJECT_ROOT / "docs" / "results"
BODY_MARK = "<!-- body -->"  # in a results .md: everything below it is what the README quotes
_BLOCK = re.compile(r"<!-- results: (?P<file>docs/results/[^ ]+) -->\n(?P<text>.*?)<!-- /results -->", re.S)
_QUOTE = re.compile(r"<!-- quote: (?P<file>docs/results/[^ ]+) -->(?P<text>.*?)<!-- /quote -->", re.S)
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def gpu_name() -> str | None:
    """The first CUDA device's name, or None (torch is imported only if it is already loaded or installed)."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


@dataclass
class Stamp:
    """Where a results file comes from."""

    command: str
    commit: str
    dirty: bool
    date: str
    cores: int
    gpu: str | None
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] | None = None
    python: str = platform.python_version()
    threads: int | None = None  # torch's intra-op threads when the stamp was taken (None: torch not loaded)

    @classmethod
    def now(cls, command: str, since: "Stamp | None" = None) -> "Stamp":
        """A stamp for now; ``since``: keep that stamp's commit (the code a long run loaded when it started)."""
        # uncommitted changes to the code; the README's blocks and docs/results are what reports write themselves
        status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs/results",
                      ":(exclude)README.md") if since is None else ""
        return cls(command=command, commit=since.commit if since else (_git("rev-parse", "HEAD") or "unknown"),
                   dirty=since.dirty if since else bool(status),
                   date=datetime.now(UTC).isoformat(timespec="seconds"), cores=os.cpu_count() or 0, gpu=gpu_name(),
                   load_before=tuple(round(x, 2) for x in os.getloadavg()), threads=torch_threads())

    def finish(self) -> "Stamp":
        self.load_after = tuple(round(x, 2) for x in os.getloadavg())
        return self

    def to_dict(self) -> dict:
        return {"command": self.command, "commit": self.commit, "uncommitted_changes": self.dirty, "date": self.date,
                "machine": {"cores": self.cores, "gpu": self.gpu or "none", "python": self.python,
                            "torch_threads": self.threads,
                            "load_average_1_5_15min": {"before": list(self.load_before),
                                                       "after": list(self.load_after or ())}}}

    def line(self) -> str:
        dirty = " + uncommitted changes" if self.dirty else ""
        load = f"load {self.load_before[0]:.1f}" + (f"→{self.load_after[0]:.1f}" if self.load_after else "")
        threads = f", {self.threads} torch thread{'s' * (self.threads != 1)}" if self.threads else ""
        return (f"Commit `{self.commit[:10]}`{dirty}, {self.date[:10]}, {self.cores} CPU cores{threads}, "
                f"GPU: {self.gpu or 'none'}, {load} (1-min load average before → after). "
                f"Command: `{self.command}`")


def write_result(out_dir: str | os.PathLike, name: str, title: str, body: str, data: dict, stamp: Stamp) -> Path:
    """``<name>.json`` ({"stamp", "title", "data"}) and ``<name>.md`` (title, stamp line, ``body``); returns the .md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / f"{name}.json", {"title": title, "stamp": stamp.to_dict(), "data": data})
    md = out / f"{name}.md"
    atomic_write_text(md, f"# {title}\n\n{stamp.line()}\n\n{BODY_MARK}\n{body.rstrip()}\n")
    return md


def script_command(argv: list[str]) -> str:
    """A script's command line as run from the repository root (for its stamp)."""
    import shlex
    script = Path(argv[0])
    try:
        script = script.resolve().relative_to(PROJECT_ROOT)
    except ValueError:
        pass
    return " ".join(shlex.quote(a) for a in [".venv/bin/python", str(script), *argv[1:]])


def write_script_result(name: str, title: str, body: str, data: dict, started: Stamp,
                        out_dir: str | os.PathLike = RESULTS_DIR) -> Path:
    """``write_result`` for a script run with ``--results``: ``started`` is the stamp taken when it began."""
    return write_result(out_dir, name, title, body, data, started.finish())


def result_body(md_path: str | os.PathLike) -> str:
    """The part of a results .md below its body mark (what a README block holds)."""
    text = Path(md_path).read_text(encoding="utf-8")
    return text.split(BODY_MARK + "\n", 1)[1] if BODY_MARK in text else text


def numbers(text: str) -> set[str]:
    """Every number in ``text``, commas dropped (``2,622`` → ``2622``)."""
    return {m.group().replace(",", "") for m in _NUMBER.finditer(text)}


def readme_problems(readme: str, root: Path = PROJECT_ROOT) -> list[str]:
    """What a README's marked blocks say that their results files do not (an empty list when all agree)."""
    problems = []
    for m in _BLOCK.finditer(readme):
        path = root / m["file"]
        if not path.is_file():
            problems.append(f"{m['file']}: no such results file")
        elif m["text"].strip() != result_body(path).strip():
            problems.append(f"{m['file']}: the README's block differs from the file (run the report, or "
                            f"python -m ctl_core report --sync-readme)")
    for m in _QUOTE.finditer(readme):
        path = root / m["file"]
        if not path.is_file():
            problems.append(f"{m['file']}: no such results file")
            continue
        missing = sorted(numbers(m["text"]) - numbers(path.read_text(encoding="utf-8")))
        if missing:
            problems.append(f"{m['file']}: the README quotes {', '.join(missing)}, which the file does not hold "
                            f"({m['text'].strip()[:80]!r})")
    return problems


def sync_readme(readme_path: str | os.PathLike, root: Path = PROJECT_ROOT) -> list[str]:
    """Replace each results block of the README with its file's body; returns the files copied in."""
    path = Path(readme_path)
    text = path.read_text(encoding="utf-8")
    copied: list[str] = []

    def fill(m: re.Match) -> str:
        f = root / m["file"]
        if not f.is_file():
            return m.group()
        copied.append(m["file"])
        return f"<!-- results: {m['file']} -->\n{result_body(f).strip()}\n<!-- /results -->"

    new = _BLOCK.sub(fill, text)
    if new != text:
        atomic_write_text(path, new)
    return copied


def read_result(out_dir: str | os.PathLike, name: str) -> dict | None:
    """A results JSON ({"title", "stamp", "data"}), or None when it is missing."""
    p = Path(out_dir) / f"{name}.json"
    return json.loads(p.read_text()) if p.is_file() else None
