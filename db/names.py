"""What makes a person's name safe to show and to tell apart: no invisible characters, no look-alikes.

Two checks, shared by account names (``db.accounts``) and the annotator names typed in demo mode (``db.store``):

* ``hidden_character``: control characters (a NUL, a newline), format characters (zero-width space and joiners,
  bidi overrides, the word joiner, soft hyphen, BOM), surrogates, private-use and unassigned code points make a
  name look like another or break its display; they are refused. The one exception: zero-width (non-)joiners
  between two letters of a script that shapes with them (Arabic, Persian, the Indic scripts), never next to a
  Latin, Greek or Cyrillic letter, nor at either end.
* ``skeleton`` / ``look_alike``: Unicode's confusable skeleton (UTS #39, computed by ICU's SpoofChecker through
  PyICU): "Аna" with a Cyrillic А, "Ana" and "Ana" with a zero-width joiner share the skeleton "Ana"; "rn" and "m",
  "l", "I" and "1" do too. Names are compared by skeleton as written, casefolded and upper-cased (an account name
  is case-insensitive, so "ΑΝΑ" in Greek capitals is a twin of "Ana"). A new name whose skeleton equals an existing
  one's is refused.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

import icu

_JOINERS = frozenset("\u200c\u200d")  # zero-width non-joiner, zero-width joiner
_NO_JOINER_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")  # scripts that never need a joiner: there it only hides


def _needs_joiner(left: str, right: str) -> bool:
    """Whether a joiner between ``left`` and ``right`` can be a spelling: both letters (or marks) of a script
    other than Latin, Greek and Cyrillic."""
    for ch in (left, right):
        if unicodedata.category(ch)[0] not in "LM":
            return False
        if unicodedata.name(ch, "").startswith(_NO_JOINER_SCRIPTS):
            return False
    return True


def hidden_character(name: str) -> str | None:
    """The first character of ``name`` that is invisible or controls the display (as ``U+XXXX NAME``), else None."""
    for i, ch in enumerate(name):
        cat = unicodedata.category(ch)
        if cat[0] != "C":
            continue
        if ch in _JOINERS and 0 < i < len(name) - 1 and _needs_joiner(name[i - 1], name[i + 1]):
            continue
        return f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character' if cat == 'Cc' else 'unassigned')}"
    return None


@lru_cache(maxsize=1)
def _checker() -> icu.SpoofChecker:
    return icu.SpoofChecker()


@lru_cache(maxsize=4096)
def skeleton(name: str) -> str:
    """UTS #39 skeleton of ``name`` (ICU): equal for names that look alike, e.g. "Аna" (Cyrillic А) and "Ana"."""
    return _checker().getSkeleton(0, name)


def look_keys(name: str) -> tuple[str, str, str]:
    """The skeletons two names are compared by: of the name as written, casefolded and upper-cased."""
    return (skeleton(name), skeleton(unicodedata.normalize("NFKC", name.casefold())),
            skeleton(unicodedata.normalize("NFKC", name.upper())))


def look_alike(name: str, others: Iterable[str]) -> str | None:
    """The first of ``others`` that looks like ``name`` (the same skeleton in one of ``look_keys``' forms), else
    None."""
    mine = look_keys(name)
    for other in others:
        if any(a == b for a, b in zip(mine, look_keys(other))):
            return other
    return None
