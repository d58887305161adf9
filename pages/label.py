"""Label pairs: a stylist judges (query, candidate) pairs, one at a time, with single-key shortcuts.

With accounts, the annotator is the signed-in account's own (bound on sign-in): nobody can label as another. Without
accounts (the demo) a name is typed in, as before.
"""
import time

import streamlit as st

from app import auth, loaders, widgets
from app.widgets import md
from db import store
from db.store import StoreError

ROOT_GUIDELINES = loaders.PROJECT_ASSETS / "guidelines.md"

account = auth.require_page("label")
ws = loaders.workspace()
eng = loaders.engine(ws)
st.title("Label pairs")

guidelines = ROOT_GUIDELINES.read_text(encoding="utf-8")
summary, _, _ = guidelines.partition("\n---\n")

st.sidebar.header("Annotator")
name = auth.acting_name(eng, account, acting_as="Labelling as", key="annotator", placeholder="e.g. Ana",
                        prompt="Sign in with your name in the sidebar to start labeling.",
                        help="Judgments are stored under this name; no anonymous judgments.")


@st.dialog("Labelling guidelines", width="large")
def full_guidelines() -> None:
    st.markdown(guidelines.replace("# Labelling guidelines: Complete The Look", ""))


# The guidelines and the progress live in the sidebar (and the full text in a dialog), so that opening them never
# pushes the pair or the verdict buttons off a 1366×768 screen.
with st.sidebar:
    study = loaders.study_picker(eng, key="label_study")
    prog = store.progress(eng, study.study_id, name)
    st.progress(prog.fraction, text=f"You: {prog.judged} / {prog.total} judgments")
    st.progress(prog.study_fraction, text=f"Study: {prog.study_judged} / {prog.study_total} judgments")
    st.caption("Both count every judgment, the check pairs with known answers included (each annotator judges "
               "those too, so the study's total grows as annotators join).")
    with st.expander("Guidelines — summary", expanded=prog.judged == 0):
        st.markdown(summary.replace("# Labelling guidelines: Complete The Look", ""))
    if st.button("Full guidelines with examples", key="guidelines_full", icon=":material/menu_book:"):
        full_guidelines()

VERDICT_KEYS = {True: "judge_yes", False: "judge_no", None: "judge_skip"}
MODE_LABELS = {m.code: m.label for m in store.list_failure_modes(eng, active_only=False)}  # deactivated ones too


def verdict_text(compatible: bool | None) -> str:
    return {True: "Compatible", False: "Not compatible", None: "Skipped"}[compatible]


def modes_text(codes) -> str:
    """" — Colour clash, Style mismatch": failure modes by their labels (escaped), "" for none."""
    return f" — {md(', '.join(MODE_LABELS.get(c, c) for c in codes))}" if codes else ""


if study.status != "open":
    st.warning(f"Study {md(repr(study.name))} is closed; choose another study or reopen it on the Studies page.")
    st.stop()

editing = st.session_state.get("edit_pair")
if editing is not None:
    pair = store.get_pair(eng, editing)
    previous = store.get_judgment(eng, editing, name)
else:
    pair = store.next_pair(eng, study.study_id, name)
    previous = None
if pair is None:
    st.success("All pairs assigned to you in this study are judged. Thank you!", icon=":material/task_alt:")
else:
    products = loaders.product_lookup(ws)
    started = st.session_state.setdefault(f"shown_{pair.pair_id}", time.monotonic())
    labels = {m.code: m.label for m in store.list_failure_modes(eng)}  # the active ones, offered
    if previous is not None:  # modes deactivated since this judgment chose them: shown, marked, and may stay
        labels.update({c: f"{MODE_LABELS.get(c, c)} (inactive)" for c in previous.failure_modes if c not in labels})
    if previous is not None:
        st.info(f"Editing your earlier judgment: **{verdict_text(previous.compatible)}**"
                f"{modes_text(previous.failure_modes)}" + (f" — “{md(previous.comment)}”" if previous.comment else ""),
                icon=":material/edit:")
    left, right, controls = st.columns([2, 2, 1.6])
    for col, label, pid in ((left, "Query", pair.query_product_id), (right, "Candidate", pair.candidate_product_id)):
        with col:
            st.markdown(f"**{label}**")
            p = products.get(pid)
            if p is None:
                st.error(f"Product {md(pid)} is not in the catalogue any more.")
            else:
                widgets.product_image(ws.abs(p["image_path"]), width=340, max_height=340)
                st.caption(loaders.details(md(p["title"]), md(p["category"]), loaders.price_text(p["price"])))
    # the earlier verdict (when editing) is the highlighted button; otherwise Compatible, as before
    primary = VERDICT_KEYS[previous.compatible] if previous is not None else "judge_yes"
    with controls:  # beside the images: failure modes and a comment never push the buttons down
        verdict = None
        for key, text, value, shortcut, icon in (
                ("judge_yes", "Compatible", ("yes", True), "y", ":material/thumb_up:"),
                ("judge_no", "Not compatible", ("no", False), "n", ":material/thumb_down:"),
                ("judge_skip", "Skip", ("skip", None), "s", ":material/skip_next:")):
            if st.button(text, type="primary" if key == primary else "secondary", shortcut=shortcut, key=key,
                         icon=icon, width="stretch"):
                verdict = value
        chosen = st.pills("If not compatible: what is wrong?", list(labels), selection_mode="multi",
                          format_func=lambda c: md(labels[c]), key=f"modes_{pair.pair_id}", wrap=True,
                          width="stretch",
                          default=[c for c in previous.failure_modes if c in labels] if previous else None)
        comment = st.text_area("Comment (optional)", key=f"comment_{pair.pair_id}", max_chars=2000, height=68,
                               value=previous.comment if previous else "")
        st.caption("Shortcuts: **Y** compatible · **N** not compatible · **S** skip")
    if verdict is not None:
        compatible = verdict[1]
        try:
            store.submit_judgment(eng, study.study_id, pair.pair_id, name, compatible,
                                  failure_modes=[] if compatible else list(chosen or []), comment=comment,
                                  seconds_taken=round(time.monotonic() - started, 2))
        except StoreError as e:
            st.error(md(e))
            st.stop()
        st.session_state.pop("edit_pair", None)
        st.session_state.pop(f"shown_{pair.pair_id}", None)
        st.toast(f"Saved: {verdict[0]}")
        st.rerun()

st.divider()
st.subheader("Your last judgments")
recent = store.recent_judgments(eng, study.study_id, name, n=5)
if not recent:
    st.caption("None yet.")
titles = {pid: p["title"] for pid, p in loaders.product_lookup(ws).items()}
for j in recent:
    c1, c2 = st.columns([5, 1])
    c1.markdown(f"{md(titles.get(j.query_product_id, j.query_product_id))} + "
                f"{md(titles.get(j.candidate_product_id, j.candidate_product_id))}: **{verdict_text(j.compatible)}**"
                f"{modes_text(j.failure_modes)}"
                + (f" — “{md(j.comment)}”" if j.comment else ""))
    if c2.button("Edit", key=f"edit_{j.pair_id}"):
        st.session_state["edit_pair"] = j.pair_id
        st.rerun()
