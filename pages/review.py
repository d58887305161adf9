"""Review: the adjudication queue. Pairs on which annotators disagree, and gold pairs answered wrongly, one at a time:
both images, every verdict with its failure modes and comment; the adjudicator's verdict is stored beside the
judgments (db.adjudication), never over them, and every adjudication is kept."""
import streamlit as st

from app import auth, loaders, widgets
from app.widgets import md
from db import adjudication, report, store
from db.store import StoreError

account = auth.require_page("review")
ws = loaders.workspace()
eng = loaders.engine(ws)
st.title("Review")
st.caption("Pairs on which annotators disagree, and gold pairs answered wrongly. Your verdict is stored beside the "
           "annotators' judgments, never over them; Results can then be computed on adjudicated verdicts.")

name = auth.acting_name(eng, account, acting_as="Adjudicating as", key="adjudicator", placeholder="e.g. Maria",
                        prompt="Type your name in the sidebar to adjudicate.")

study = loaders.study_picker(eng, key="review_study")
flagged = report.annotator_quality(eng, study.study_id)
flagged = flagged[flagged["flagged"]]
if len(flagged):
    st.warning("Below the gold-accuracy threshold in this study: " + ", ".join(
        f"{md(r.annotator)} ({r.gold_accuracy:.0%} of {r.gold_judged} gold pairs)" for r in flagged.itertuples()),
        icon=":material/flag:")
counts = adjudication.queue_counts(eng, study.study_id)
st.markdown(f"**{counts['open']} open**, {counts['resolved']} resolved ({counts['disagreement']} disagreements, "
            f"{counts['gold']} gold pairs answered wrongly).")
queue = adjudication.review_queue(eng, study.study_id)
if not queue:
    st.success("Nothing to review in this study.", icon=":material/task_alt:")
else:
    item = queue[0]
    products = loaders.product_lookup(ws)
    why = ("gold pair answered wrongly (known answer: "
           f"{'compatible' if item.gold_label else 'not compatible'})" if item.reason == "gold"
           else "the annotators disagree")
    st.subheader(f"Pair {item.pair_id}: {why}")
    left, right = st.columns(2)
    for col, label, pid in ((left, "Query", item.query_product_id), (right, "Candidate", item.candidate_product_id)):
        with col:
            st.markdown(f"#### {label}")
            p = products.get(pid)
            if p is None:
                st.text(f"Product {pid} is not in the catalogue any more.")
            else:
                widgets.product_image(ws.abs(p["image_path"]), width=300)
                st.caption(loaders.details(md(p["title"]), md(p["category"]), loaders.price_text(p["price"])))
    labels = {m.code: m.label for m in store.list_failure_modes(eng, active_only=False)}
    for v in item.verdicts:
        verdict = {True: "Compatible", False: "Not compatible", None: "Skipped"}[v.compatible]
        modes = ", ".join(md(labels.get(c, c)) for c in v.failure_modes)
        st.markdown(f"**{md(v.annotator)}**: {verdict}" + (f" — {modes}" if modes else "")
                    + (f" — “{md(v.comment)}”" if v.comment else ""))
    active = [m.code for m in store.list_failure_modes(eng)]
    chosen = st.pills("Failure modes (if not compatible)", active, selection_mode="multi",
                      format_func=lambda c: md(labels[c]), key=f"adj_modes_{item.pair_id}")
    comment = st.text_input("Comment (optional)", key=f"adj_comment_{item.pair_id}", max_chars=2000)
    b1, b2, b3, _ = st.columns([1, 1, 1, 2])
    decision = None
    if b1.button("Compatible", type="primary", key="adj_yes", icon=":material/thumb_up:"):
        decision = ("compatible", True)
    if b2.button("Not compatible", key="adj_no", icon=":material/thumb_down:"):
        decision = ("not compatible", False)
    if b3.button("Cannot be judged", key="adj_none", icon=":material/help:"):
        decision = ("cannot be judged", None)
    if decision is not None:
        try:
            adjudication.adjudicate(eng, item.pair_id, name, decision[1],
                                    failure_modes=[] if decision[1] else list(chosen or []), comment=comment)
        except StoreError as e:
            st.error(md(e))
            st.stop()
        st.toast(f"Adjudicated: {decision[0]}")
        st.rerun()

st.divider()
st.subheader("Adjudication history")
hist = adjudication.adjudication_frame(eng, study.study_id)
if hist.empty:
    st.caption("None yet.")
else:
    st.dataframe(hist, hide_index=True, key="adjudication_history")
