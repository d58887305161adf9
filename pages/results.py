"""Results: human precision per model (the paper's Table 7) with 95% Wilson intervals, per category, failure modes,
agreement, annotator reliability, and the offline metrics beside them."""
import altair as alt
import streamlit as st

from app import auth, loaders
from db import stats, store

auth.require_page("results")
ws = loaders.workspace()
eng = loaders.engine(ws)
st.title("Results")
study = loaders.study_picker(eng, key="results_study")
sid = study.study_id

prec = stats.precision_by_model(eng, sid)
if prec.empty or prec["judged"].sum() == 0:
    st.info("No judgments yet in this study: label some pairs first.")
    st.stop()

st.subheader("Precision per model")
st.caption("Precision = compatible / judged (skips and gold pairs excluded; a pair several models returned counts "
           "for each of them). Bars show 95% Wilson intervals on the effective sample size: judgments of the same pair "
           "agree more than independent ones, so they count for less (design effect from the intraclass "
           "correlation). Paper (Table 7): Siamese 47.7%, Classification 50.6%, Triplets 55.0%.")
base = alt.Chart(prec).encode(x=alt.X("model:N", title=None, axis=alt.Axis(labelAngle=-30, labelLimit=160)))
chart = (base.mark_bar().encode(y=alt.Y("precision:Q", scale=alt.Scale(domain=[0, 1]), title="precision"),
                                tooltip=["model", "judged", "compatible", alt.Tooltip("precision:Q", format=".1%"),
                                         alt.Tooltip("ci_low:Q", format=".1%"), alt.Tooltip("ci_high:Q", format=".1%")])
         + base.mark_errorbar(color="black", thickness=2).encode(y=alt.Y("ci_low:Q", title="precision"),
                                                                y2="ci_high:Q"))
st.altair_chart(chart.properties(height=300), width="stretch")
st.dataframe(prec, hide_index=True, key="precision_table",
             column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "ci_low", "ci_high")}
             | {"effective_n": st.column_config.NumberColumn(format="%.1f", help="judged / design effect")})

st.subheader("Precision per candidate category")
cat_of = {pid: row["category"] for pid, row in loaders.product_lookup(ws).items()}
per_cat = stats.precision_by_model_category(eng, sid, cat_of)
if not per_cat.empty:
    cat_col = "category" if "category" in per_cat.columns else per_cat.columns[1]
    st.altair_chart(alt.Chart(per_cat).mark_rect().encode(
        x=alt.X(f"{cat_col}:N", title=None), y=alt.Y("model:N", title=None, axis=alt.Axis(labelOverlap=False)),
        color=alt.Color("precision:Q", scale=alt.Scale(domain=[0, 1], scheme="redyellowgreen")),
        tooltip=["model", cat_col, "judged", alt.Tooltip("precision:Q", format=".1%")]).properties(height=220),
        width="stretch")

st.subheader("Failure modes")
tallies = stats.failure_mode_tallies(eng, sid)
if not tallies.empty:
    long = tallies.melt(id_vars="model", var_name="failure mode", value_name="count")
    long = long[long["count"] > 0]
    if long.empty:
        st.caption("No failure modes named yet.")
    else:
        st.altair_chart(alt.Chart(long).mark_bar().encode(
            x=alt.X("model:N", title=None), y="count:Q", color="failure mode:N",
            tooltip=["model", "failure mode", "count"]).properties(height=300), width="stretch")

st.subheader("Comments")
c1, c2, c3 = st.columns(3)
models = ["(all)"] + list(prec["model"])
f_model = c1.selectbox("Model", models, key="c_model")
f_mode = c2.selectbox("Failure mode", ["(all)"] + [c for c in tallies.columns if c != "model"], key="c_mode")
f_ann = c3.selectbox("Annotator", ["(all)"] + store.list_annotators(eng), key="c_ann")
com = stats.comments(eng, sid, model=None if f_model == "(all)" else f_model,
                     mode=None if f_mode == "(all)" else f_mode, annotator=None if f_ann == "(all)" else f_ann)
st.dataframe(com, hide_index=True, key="comments_table")

st.subheader("Agreement and reliability")
ag = stats.agreement(eng, sid)
a1, a2, a3 = st.columns(3)
fmt = lambda v: "n/a" if v is None or v != v else f"{v:.2f}"
a1.metric("Cohen's kappa (pairs of annotators)", fmt(ag.get("cohen_kappa")), help=f"{ag.get('cohen_items', 0)} items")
a2.metric("Fleiss' kappa (3+ raters)", fmt(ag.get("fleiss_kappa")), help=f"{ag.get('fleiss_items', 0)} items")
a3.metric("Raw agreement", fmt(ag.get("percent_agreement")))
rel = stats.annotator_reliability(eng, sid)
if not rel.empty:
    st.caption("Accuracy of each annotator on gold pairs (known outfit-mates and clear clashes).")
    st.dataframe(rel, hide_index=True, key="reliability_table")

st.subheader("Offline metrics beside human precision")
offline = stats.load_offline_metrics(eng, wide=True)
if offline.empty:
    st.caption("No offline metrics stored yet (`python -m ctl_core evaluate`).")
else:
    both = prec[["model", "precision", "judged"]].merge(offline, left_on="model", right_on="method", how="left")
    st.dataframe(both.drop(columns=["method"]), hide_index=True, key="offline_vs_human")

st.subheader("Export")
j = stats.judgment_frame(eng, sid)
d1, d2 = st.columns(2)
d1.download_button("Judgments (CSV)", stats.csv_text(j), file_name=f"study{sid}_judgments.csv", key="dl_j")
d2.download_button("Precision summary (CSV)", stats.csv_text(prec), file_name=f"study{sid}_summary.csv",
                   key="dl_s")
