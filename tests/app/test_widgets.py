"""``md``: data shown inside Streamlit Markdown stays text (the browser test shows it in Streamlit's renderer)."""
from __future__ import annotations

import re

from app.widgets import WORD_JOINER, md

PROBES = ['<iframe srcdoc="<script>document.title=\'pwned\';window.pwned=1</script>">',
          "<style>h1{color:rgb(1,2,3)}</style>", "![x](http://127.0.0.1:9/leak.png)", "[link](javascript:alert(1))",
          ":red[colour] :material/home: $x^2$ ~~gone~~ **bold** _it_ `code` # heading | a | b |", "&lt;b&gt; \\",
          "see https://evil.example/x, www.evil.example or mail me@evil.example"]


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text).replace(WORD_JOINER, "")


def test_every_markdown_and_html_character_is_escaped():
    for probe in PROBES:
        out = md(probe)
        assert unescape(out) == probe  # what a CommonMark renderer shows: the text itself
        assert not re.search(r"(?<!\\)[<>\[\]()!`*_:$&~|#]", out), out  # none left bare


def test_bare_urls_and_addresses_are_kept_from_linking():
    out = md("https://a.example, WWW.b.example, c@d.example")
    assert out.count(WORD_JOINER) == 3
    assert not re.search(r"(^|[\s\\(*_~])(https?\\?:|www\\?\.)", out, re.I)  # GFM links only after these


def test_text_is_flattened_to_one_line():
    assert md("a\n\n# b\n- c") == "a \\# b \\- c"
    assert md(42) == "42" and md("Zoë 鞋-1") == "Zoë 鞋\\-1"


def test_durations_stay_short_enough_for_a_metric():
    from app.widgets import duration_text
    assert [duration_text(v) for v in (0.43, 9.54, 12.54, 78.14, 117.4, 999.4, 1250.0)] == [
        "0.4 ms", "9.5 ms", "13 ms", "78 ms", "117 ms", "999 ms", "1.25 s"]
