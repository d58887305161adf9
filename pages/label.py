"""Label pairs: a stylist judges (query, candidate) pairs, one at a time, with single-key shortcuts.

With accounts, the annotator is the signed-in account's own (bound on sign-in): nobody can label as another. Without
accounts (the demo) a name is typed in, as before.
"""
import time

import streamlit as st

from app import auth, loaders, widgets
from app.widgets import md
from db import accounts, store
from db.store import StoreError

ROOT_GUIDELINES = loaders.PROJECT_ASSETS / "guidelines.md"

account = auth.require_page("label")
ws = loaders.workspace()
eng = loaders.engine(ws)
st.title("Label pairs")

guidelines = ROOT_GUIDELINES.read_text(encoding="utf-8")
summary, _, _ = guidelines.partition("\n---\n")

if account is not None:  # the signed-in account's annotator row
    name = account.annotator or accounts.bind_annotator(eng, account.account_id).annotator
    with st.sidebar:
        st.header("Annotator")
        st.text(f"Labelling as {name}")
else:
    with st.sidebar:
        st.header("Annotator")
        name = st.text_input("Your name", key="annotator", placeholder="e.g. Ana",
                             help="Judgments are stored under this name; no anonymous judgments.").strip()
    if not name:
        st.info("Sign in with your name in the sidebar to start labeling.", icon=":material/badge:")
        st.stop()
    try:
        store.get_or_create_annotator(eng, name)
    except StoreError as e:
        st.error(md(e))
        st.stop()

with st.sidebar:
    study = loaders.study_picker(eng, key="label_study")
    prog = store.progress(eng, study.study_id, name)
    st.progress(prog.fraction, text=f"You: {prog.judged} / {prog.total} judged")
    st.progress(prog.study_fraction, text=f"Study: {prog.study_judged} / {prog.study_total} judgments")

g1, g2 = st.columns(2)
with g1.expander("Guidelines — summary", expanded=prog.judged == 0):
    st.markdown(summary.replace("# Labelling guidelines: Complete The Look", ""))
with g2.expander("Guidelines — full text with examples"):
    st.markdown(guidelines)

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
    if editing is not None:
        st.info("Editing an earlier judgment.", icon=":material/edit:")
    left, right = st.columns(2)
    for col, label, pid in ((left, "Query", pair.query_product_id), (right, "Candidate", pair.candidate_product_id)):
        with col:
            st.markdown(f"#### {label}")
            p = products.get(pid)
            if p is None:
                st.error(f"Product {md(pid)} is not in the catalogue any more.")
            else:
                widgets.product_image(ws.abs(p["image_path"]), width=360)
                st.caption(loaders.details(md(p["title"]), md(p["category"]), loaders.price_text(p["price"])))
    modes = store.list_failure_modes(eng)
    labels = {m.code: m.label for m in modes}
    chosen = st.pills("If not compatible: what is wrong?", list(labels), selection_mode="multi",
                      format_func=lambda c: md(labels[c]), key=f"modes_{pair.pair_id}",
                      default=list(previous.failure_modes) if previous else None)
    comment = st.text_area("Comment (optional)", key=f"comment_{pair.pair_id}", max_chars=2000,
                           value=previous.comment if previous else "")
    b1, b2, b3, _ = st.columns([1, 1, 1, 2])
    verdict = None
    if b1.button("Compatible", type="primary", shortcut="y", key="judge_yes", icon=":material/thumb_up:"):
        verdict = ("yes", True)
    if b2.button("Not compatible", shortcut="n", key="judge_no", icon=":material/thumb_down:"):
        verdict = ("no", False)
    if b3.button("Skip", shortcut="s", key="judge_skip", icon=":material/skip_next:"):
        verdict = ("skip", None)
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
    verdict_text = {True: "Compatible", False: "Not compatible", None: "Skipped"}[j.compatible]
    modes_text = f" — {md(', '.join(j.failure_modes))}" if j.failure_modes else ""
    c1.markdown(f"{md(titles.get(j.query_product_id, j.query_product_id))} + "
                f"{md(titles.get(j.candidate_product_id, j.candidate_product_id))}: **{verdict_text}**{modes_text}"
                + (f" — “{md(j.comment)}”" if j.comment else ""))
    if c2.button("Edit", key=f"edit_{j.pair_id}"):
        st.session_state["edit_pair"] = j.pair_id
        st.rerun()
