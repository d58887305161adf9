"""Studies: create a human-evaluation study (sample products, run each model end to end) and manage studies."""
import pandas as pd
import streamlit as st

from app import auth, loaders
from app.widgets import md
from ctl_core.config import RERANKED_SUFFIX
from ctl_core.workflows import study as study_flow
from db import human, report, store, studies

auth.require_page("studies")
ws = loaders.workspace()
st.title("Studies")
st.markdown("A study samples query products of product-shot quality, runs each chosen model end to end (the "
            "real recommender), pools the (query, candidate) pairs, removes duplicates that several models returned, "
            "shuffles them and hides which model produced each. Each pair goes to several annotators so agreement "
            "can be measured; gold pairs with known answers check each annotator's reliability.")
eng = loaders.engine(ws)

existing = studies.list_studies(eng)
if existing:
    st.subheader("Existing studies")
    st.dataframe(pd.DataFrame([{
        "id": s.study_id, "name": s.name, "status": s.status, "models": ", ".join(s.models), "queries": s.num_queries,
        "pairs": s.num_pairs, "gold pairs": s.num_gold, "judgments": s.num_judgments, "top K": s.k,
        "annotators per pair": s.overlap, "created": s.created_at} for s in existing]), hide_index=True,
        key="studies_table")
    c1, c2 = st.columns([2, 1])
    by_id = {s.study_id: s for s in existing}
    sid = c1.selectbox("Open or close a study", list(by_id), format_func=lambda i: by_id[i].name, key="status_study")
    new_status = "closed" if by_id[sid].status == "open" else "open"
    if c2.button(f"Mark as {new_status}", key="toggle_status"):
        studies.set_study_status(eng, sid, new_status)
        st.rerun()

flags = report.flagged_annotators(eng)
if flags:
    st.warning("Annotators below the gold-accuracy threshold "
               f"({report.GOLD_ACCURACY_THRESHOLD:.0%}): " + "; ".join(
                   f"{md(who)} in {md(repr(name))} ({acc:.0%} of {n} gold pairs)" for name, who, acc, n in flags)
               + ". Review their judgments on the Review page.", icon=":material/flag:")

st.subheader("Plan a study")
st.caption("How many queries and judgments a comparison of two models needs: the difference in precision to "
           "detect with 80% power (two-sided test at 5%), for the annotators per pair and the gold share chosen.")
p1, p2, p3, p4, p5 = st.columns(5)
plan_d = p1.number_input("Difference (points)", 1.0, 50.0, 5.0, step=1.0, key="plan_diff")
plan_k = p2.number_input("Annotators per pair", 1, 5, 2, key="plan_k")
plan_top = p3.number_input("Top K per model", 1, 20, 5, key="plan_top")
plan_gold = p4.number_input("Gold share", 0.0, 0.5, 0.1, step=0.05, key="plan_gold")
plan_models = p5.number_input("Models", 2, 5, 2, key="plan_models")
secs, secs_source = report.median_seconds_per_judgment(eng)
plan = human.plan_paired_comparison(float(plan_d), annotators=int(plan_k), top_k=int(plan_top),
                                    gold_share=float(plan_gold), models=int(plan_models), seconds_per_judgment=secs,
                                    seconds_source=secs_source)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Queries", f"{plan.queries:,}")
m2.metric("Pairs", f"{plan.pairs:,}")
m3.metric("Judgments", f"{plan.judgments:,}")
m4.metric("Labelling time", f"{plan.hours:.1f} h")
st.caption(md(plan.text()))

st.subheader("Create a study")
methods = loaders.served_methods(ws)
if not methods:
    st.warning("No model has indices yet: build the demo on the Home page first.")
    st.stop()
with st.form("create_study"):
    name = st.text_input("Name", value=f"study {len(existing) + 1}", key="new_name")
    options = methods + ([m + RERANKED_SUFFIX for m in methods] if ws.outfit_weights_path.exists() else [])
    models = st.multiselect("Models", options, default=methods, format_func=loaders.method_label, key="new_models",
                            help="“+ outfit re-ranking”: that method's lists re-ordered by the outfit model.")
    c1, c2, c3, c4 = st.columns(4)
    n = c1.number_input("Query products", 1, 1000, 120, key="new_n", help="The paper used 120.")
    k = c2.number_input("Top K per model", 1, 20, 5, key="new_k")
    overlap = c3.number_input("Annotators per pair", 1, 5, 2, key="new_overlap")
    n_gold = c4.number_input("Gold pairs", 0, 100, 10, key="new_gold")
    seed = st.number_input("Seed", 0, 10_000, 0, key="new_seed")
    preview = st.form_submit_button("Preview the query mix")
    submitted = st.form_submit_button("Create study", type="primary")
if preview or submitted:
    try:
        mix = study_flow.query_mix(ws, models or methods, n=int(n), seed=int(seed))
    except ValueError as e:
        st.error(md(e))
    else:
        st.caption(f"Query products sampled by category ({int(mix['queries'].sum())} queries, product shots only, "
                   "stratified: each category in proportion to the catalogue, at least one each while the number "
                   "of queries allows).")
        st.dataframe(mix, hide_index=True, key="query_mix",
                     column_config={"share": st.column_config.NumberColumn(format="%.2f")})
if submitted:
    if not models:
        st.error("Choose at least one model.")
        st.stop()
    bar = st.progress(0.0, text="running the models…")
    notes: list[str] = []  # why fewer gold pairs than asked for, when so
    try:
        sid = study_flow.create_study_from_workspace(
            ws, eng, name=name, models=models, n=int(n), k=int(k), overlap=int(overlap), n_gold=int(n_gold),
            seed=int(seed), progress=lambda stage, d, t: bar.progress(d / max(t, 1), text=f"{stage} {d}/{t}"),
            say=notes.append)
    except ValueError as e:
        st.error(md(e))
        st.stop()
    info = studies.get_study(eng, sid)
    st.success(f"Created study {md(repr(info.name))}: {info.num_queries} queries, {info.num_pairs} pairs "
               f"({info.num_gold} gold). Annotators can start on the Label pairs page.")
    for note in notes:
        st.info(md(note), icon=":material/info:")

st.subheader("Failure modes")
st.caption("What labelers can name when a pair is not compatible. Deactivated modes are hidden from labelers; "
           "past judgments keep them.")
modes = store.list_failure_modes(eng, active_only=False)
st.dataframe(pd.DataFrame([{"code": m.code, "label": m.label, "description": m.description, "active": m.active}
                           for m in modes]), hide_index=True, key="modes_table")
with st.form("add_mode"):
    c1, c2, c3 = st.columns([1, 1, 2])
    code = c1.text_input("Code (a-z, 0-9, _)", key="mode_code")
    label = c2.text_input("Label", key="mode_label")
    description = c3.text_input("Description", key="mode_description")
    add = st.form_submit_button("Add or re-activate")
if add:
    try:
        store.add_failure_mode(eng, code, label, description)
    except ValueError as e:
        st.error(md(e))
    else:
        st.rerun()
active = [m.code for m in modes if m.active]
c1, c2 = st.columns([2, 1])
drop = c1.selectbox("Deactivate a failure mode", active, key="mode_drop")
if c2.button("Deactivate", key="mode_deactivate") and drop:
    store.deactivate_failure_mode(eng, drop)
    st.rerun()
