"""The labelling guidelines: a summary first, every default failure mode explained with an example, shortcuts."""
from __future__ import annotations

from ctl_core.config import PROJECT_ROOT
from db.schema import DEFAULT_FAILURE_MODES

GUIDELINES = PROJECT_ROOT / "assets" / "guidelines.md"


def test_guidelines_summary_modes_and_shortcuts():
    text = GUIDELINES.read_text(encoding="utf-8")
    summary, _, full = text.partition("\n---\n")
    assert "## Summary" in summary and full, "the summary comes first, the full text after a '---' line"
    assert len(summary) < len(full)
    for shortcut in ["`Y` = compatible", "`N` = not compatible", "`S` = skip"]:
        assert shortcut in summary
    for _, label, _ in DEFAULT_FAILURE_MODES:
        entry = full.split(f"**{label}**", 1)
        assert len(entry) == 2, f"failure mode {label!r} is not explained"
        assert "*Example:*" in entry[1].split("\n- **", 1)[0], f"failure mode {label!r} has no example"
