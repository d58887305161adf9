"""AppTest of the Label page against issue 20's probes: a failure mode deactivated while a stylist edits a judgment
that uses it, and control characters in a demo-mode annotator name."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from db import store
from db.session import init_db, make_engine

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")


@pytest.fixture
def labelling(demo_ws_copy, monkeypatch):
    """A private workspace with a small open study and no accounts (demo mode: the annotator types a name)."""
    from ctl_core.workflows.study import create_study_from_workspace
    monkeypatch.setenv("CTL_WORKSPACE", str(demo_ws_copy.root))
    engine = make_engine(demo_ws_copy.db_url)
    init_db(engine)
    create_study_from_workspace(demo_ws_copy, engine, name="pilot", models=["triplet-category"], n=4, k=2,
                                overlap=1, n_gold=0)
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.run()
    at.switch_page(str(ROOT / "pages" / "label.py"))
    at.run()
    assert not at.exception, at.exception
    yield at, engine
    engine.dispose()


def test_a_mode_deactivated_while_editing_is_shown_inactive_and_the_edit_saves(labelling):
    """Issue 20, finding 4: deactivating a failure mode that the judgment being edited uses crashed Label pairs
    (StreamlitDefaultNotInOptionsError) on every rerun until sign-in again."""
    at, engine = labelling
    at.text_input(key="annotator").set_value("Ana").run()
    at.pills(key=next(p.key for p in at.pills)).set_value(["colour_clash"]).run()
    at.button(key="judge_no").click().run()
    assert not at.exception, at.exception
    next(b for b in at.button if b.key and b.key.startswith("edit_")).click().run()
    store.deactivate_failure_mode(engine, "colour_clash")     # an admin, meanwhile, on the Studies page
    at.run()
    assert not at.exception, at.exception
    pills = at.pills(key=next(p.key for p in at.pills))
    assert pills.value == ["colour_clash"]
    shown = [o.content.replace("\\", "") for o in pills.proto.options]   # labels as shown (Markdown-escaped)
    assert "Colour clash (inactive)" in shown, shown
    at.text_area(key=next(t.key for t in at.text_area)).set_value("still clashing").run()
    at.button(key="judge_no").click().run()                 # the edit saves, keeping the inactive mode
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    (judged,) = store.recent_judgments(engine, 1, "Ana", n=5)
    assert judged.failure_modes == ("colour_clash",) and judged.comment == "still clashing"
    # a mode no longer in use still cannot be added to another judgment
    pair = store.next_pair(engine, 1, "Ana")
    with pytest.raises(store.JudgmentError, match="no longer in use"):
        store.submit_judgment(engine, 1, pair.pair_id, "Ana", False, failure_modes=["colour_clash"])


@pytest.mark.parametrize("name", ["Ana\x00", "\x00", "Ana\nBen", "Ana\u202eevil"])
def test_control_characters_in_a_demo_annotator_name_are_one_line(labelling, name):
    """Issue 20, finding 3: a NUL or a newline in the typed name raised an IntegrityError traceback."""
    at, engine = labelling
    at.text_input(key="annotator").set_value(name).run()
    assert not at.exception, at.exception
    (error,) = at.error
    assert "invisible or control character" in error.value and "\n" not in error.value
    assert store.list_annotators(engine) == []
