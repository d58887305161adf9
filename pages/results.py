"""Results: human precision per model (the paper's Table 7) with 95% intervals that treat queries as clusters, paired
comparisons between models, per category, failure modes, agreement, annotator quality (gold accuracy, Dawid–Skene),
corrected precision, and the offline metrics beside them. Statistics: db.human / db.report."""
import altair as alt
import pandas as pd
import streamlit as st

from app import auth, loaders
from app.widgets import md
from db import adjudication, human, report, stats, store


@st.cache_data(show_spinner="Bootstrapping the corrected precision (Dawid–Skene refitted on each resample)…",
               max_entries=32)
def corrected_table(_eng, db: str, study_id: int, version: tuple) -> pd.DataFrame:
    """``report.corrected`` (400 bootstrap refits: seconds on a large study), kept until a judgment changes."""
    return report.corrected(_eng, study_id)


def judgments_version(engine, study_id: int) -> tuple:
    """What changes whenever a judgment of the study is added, edited or removed."""
    j = stats.judgment_frame(engine, study_id)
    return len(j), str(j["created_at"].max()), str(j["updated_at"].max()), int(j["judgment_id"].sum())


auth.require_page("results")
ws = loaders.workspace()
eng = loaders.engine(ws)
st.title("Results")
study = loaders.study_picker(eng, key="results_study")
sid = study.study_id
models = list(study.models)

basis = st.radio("Computed on", adjudication.BASES, horizontal=True, key="results_basis",
                 format_func=lambda b: {"all": "All judgments", "majority": "Majority per pair",
                                        "adjudicated": "Adjudicated"}[b])
obs, counts = report.study_observations(eng, sid, basis)
prec = human.precision_table(obs, models)
if prec.empty or prec["judged"].sum() == 0:
    st.info("No judgments yet in this study: label some pairs first.")
    st.stop()
note = f"**Basis:** {adjudication.BASIS_TEXT[basis]}."
if basis != "all":
    note += f" {counts['pairs']} pairs with a verdict, {counts['ties']} ties left out"
    note += f", {counts['adjudicated']} adjudicated." if basis == "adjudicated" else "."
st.markdown(note)

st.subheader("Precision per model")
st.caption("Precision = compatible / judged (skips and gold pairs excluded; a pair several models returned counts "
           "for each of them). Bars show 95% intervals that treat each query as a cluster: judgments of one query "
           "(and of one pair) are correlated, so they count for less than independent ones (Wilson interval on the "
           "effective sample size from the cluster-robust variance; coverage checked by simulation, see the README). "
           "Paper (Table 7): Siamese 47.7%, Classification 50.6%, Triplets 55.0%.")
shown = prec.dropna(subset=["precision"])
base = alt.Chart(shown).encode(x=alt.X("model:N", title=None, axis=alt.Axis(labelAngle=-30, labelLimit=160)))
chart = (base.mark_bar().encode(y=alt.Y("precision:Q", scale=alt.Scale(domain=[0, 1]), title="precision"),
                                tooltip=["model", "judged", "compatible", alt.Tooltip("precision:Q", format=".1%"),
                                         alt.Tooltip("ci_low:Q", format=".1%"), alt.Tooltip("ci_high:Q", format=".1%")])
         + base.mark_errorbar(color="black", thickness=2).encode(y=alt.Y("ci_low:Q", title="precision"),
                                                                y2="ci_high:Q"))
st.altair_chart(chart.properties(height=280), width="stretch")
st.dataframe(prec, hide_index=True, key="precision_table",
             column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "ci_low", "ci_high")}
             | {"effective_n": st.column_config.NumberColumn(format="%.1f", help="judged / design effect (queries as "
                                                             "clusters)")})

st.subheader("Paired comparisons")
comp = human.paired_comparisons(obs, models)
if comp.empty:
    st.caption("One model only: nothing to compare.")
else:
    st.caption("Difference in precision, model A − model B, on the same queries, with a 95% interval and a "
               "two-sided p-value that treat queries as clusters (a pair both models returned counts for both and "
               "cancels). No correction for multiple comparisons.")
    for r in comp.to_dict("records"):
        st.text(human.comparison_text(r))
    ok = comp.dropna(subset=["diff"]).assign(
        comparison=lambda d: d["model_a"] + " − " + d["model_b"],
        points=lambda d: 100 * d["diff"], low=lambda d: 100 * d["ci_low"], high=lambda d: 100 * d["ci_high"])
    if not ok.empty:
        cb = alt.Chart(ok).encode(y=alt.Y("comparison:N", title=None, axis=alt.Axis(labelLimit=320)))
        st.altair_chart((cb.mark_rule(strokeWidth=3).encode(x=alt.X("low:Q", title="difference (points)"),
                                                            x2="high:Q")
                         + cb.mark_point(filled=True, size=80, color="black").encode(
                             x="points:Q", tooltip=["comparison", alt.Tooltip("points:Q", format="+.1f"),
                                                    alt.Tooltip("low:Q", format="+.1f"),
                                                    alt.Tooltip("high:Q", format="+.1f"),
                                                    alt.Tooltip("p_value:Q", format=".3f")])
                         + alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(strokeDash=[4, 4], color="grey").encode(
                             x="x:Q")).properties(height=40 + 36 * len(ok)), width="stretch")
    st.dataframe(comp, hide_index=True, key="comparisons_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("diff", "ci_low", "ci_high", "se")}
                 | {"p_value": st.column_config.NumberColumn(format="%.4f")})

st.subheader("Precision per candidate category")
MIN_CELL = 5
cat_of = {pid: row["category"] for pid, row in loaders.product_lookup(ws).items()}
per_cat = stats.precision_by_model_category(eng, sid, cat_of)
if not per_cat.empty:
    st.caption(f"Each cell: precision and its number of judgments n; cells with fewer than {MIN_CELL} judgments are "
               "grey (too few to colour).")
    per_cat = per_cat.assign(label=[f"{p:.0%}\nn={n}" if n else "" for p, n in zip(per_cat["precision"],
                                                                                  per_cat["judged"])],
                             small=per_cat["judged"] < MIN_CELL)
    enc = dict(x=alt.X("category:N", title=None), y=alt.Y("model:N", title=None, axis=alt.Axis(labelOverlap=False)))
    heat = alt.Chart(per_cat).mark_rect().encode(
        **enc, color=alt.condition(alt.datum.small, alt.value("#d9d9d9"), alt.Color(
            "precision:Q", scale=alt.Scale(domain=[0, 1], scheme="redyellowgreen"))),
        tooltip=["model", "category", "judged", alt.Tooltip("precision:Q", format=".1%")])
    text = alt.Chart(per_cat).mark_text(fontSize=10, lineBreak="\n").encode(**enc, text="label:N")
    st.altair_chart((heat + text).properties(height=60 + 44 * per_cat["model"].nunique()), width="stretch")

st.subheader("Failure modes")
tallies = stats.failure_mode_tallies(eng, sid)
mode_labels = {m.code: m.label for m in store.list_failure_modes(eng, active_only=False)}
if not tallies.empty:
    long = tallies.melt(id_vars="model", var_name="failure mode", value_name="count")
    long = long[long["count"] > 0]
    long["failure mode"] = long["failure mode"].map(lambda c: mode_labels.get(c, c))  # labels, not codes
    if long.empty:
        st.caption("No failure modes named yet.")
    else:
        st.altair_chart(alt.Chart(long).mark_bar().encode(
            x=alt.X("model:N", title=None), y="count:Q", color="failure mode:N",
            tooltip=["model", "failure mode", "count"]).properties(height=300), width="stretch")

st.subheader("Comments")
c1, c2, c3 = st.columns(3)
f_model = c1.selectbox("Model", ["(all)"] + models, key="c_model")
f_mode = c2.selectbox("Failure mode", ["(all)"] + [c for c in tallies.columns if c != "model"], key="c_mode",
                      format_func=lambda c: mode_labels.get(c, c))
f_ann = c3.selectbox("Annotator", ["(all)"] + store.list_annotators(eng), key="c_ann")
com = stats.comments(eng, sid, model=None if f_model == "(all)" else f_model,
                     mode=None if f_mode == "(all)" else f_mode, annotator=None if f_ann == "(all)" else f_ann)
com = com.assign(models=[";".join(m) for m in com["models"]], failure_modes=[";".join(m) for m in com["failure_modes"]])
st.dataframe(com, hide_index=True, key="comments_table")

st.subheader("Agreement")
ag = stats.agreement(eng, sid)
a1, a2, a3 = st.columns(3)
fmt = lambda v: "n/a" if v is None or v != v else f"{v:.2f}"
a1.metric("Cohen's kappa (pairs of annotators)", fmt(ag.get("cohen_kappa")))
a1.caption(f"n = {ag.get('cohen_items', 0)} items judged by two annotators")
a2.metric("Fleiss' kappa (3+ raters)", fmt(ag.get("fleiss_kappa")))
a2.caption(f"n = {ag.get('fleiss_items', 0)} items with {ag.get('fleiss_raters', 0) or '3+'} raters")
a3.metric("Raw agreement", fmt(ag.get("percent_agreement")))
a3.caption(f"n = {ag.get('items', 0)} items with 2+ ratings")
q = adjudication.queue_counts(eng, sid)
st.caption(f"Review queue: {q['open']} open, {q['resolved']} resolved ({q['disagreement']} disagreements, "
           f"{q['gold']} gold pairs answered wrongly) — see the Review page.")

st.subheader("Annotator quality")
ds = report.fit_dawid_skene(eng, sid)
quality = report.annotator_quality(eng, sid, ds=ds)
st.caption(f"Gold accuracy (known outfit-mates and clear clashes), agreement with the other annotators on shared "
           f"pairs, median seconds per judgment, and each annotator's sensitivity and specificity estimated by "
           f"Dawid–Skene (a latent-class model; gold pairs held at their known answer). Flagged: gold accuracy below "
           f"{report.GOLD_ACCURACY_THRESHOLD:.0%} on at least {report.MIN_GOLD_FOR_FLAG} gold pairs.")
flagged = quality[quality["flagged"]]
if len(flagged):
    st.warning("Below the gold-accuracy threshold: " + ", ".join(md(a) for a in flagged["annotator"]),
               icon=":material/flag:")
st.dataframe(quality, hide_index=True, key="quality_table",
             column_config={c: st.column_config.NumberColumn(format="%.2f")
                            for c in ("gold_accuracy", "agreement", "ds_sensitivity", "ds_specificity")})
corr = corrected_table(eng, str(eng.url), sid, judgments_version(eng, sid))
st.caption("Precision corrected for annotator error: the mean Dawid–Skene posterior that a model's pairs are "
           "compatible, beside the raw precision of all judgments. ci_low–ci_high: a bootstrap over queries "
           f"({report.CORRECTED_BOOTSTRAP} resamples, Dawid–Skene refitted on each) that in simulation covered the "
           "true precision only 67–75% of the time (the correction's bias dominates; see the README): cite the "
           "precision per model above, and this as a sensitivity check.")
st.dataframe(corr, hide_index=True, key="corrected_table",
             column_config={c: st.column_config.NumberColumn(format="%.3f")
                            for c in ("raw_precision", "corrected_precision", "ci_low", "ci_high")})

st.subheader("Offline metrics beside human precision")
offline = stats.load_offline_metrics(eng, wide=True)
if offline.empty:
    st.caption("No offline metrics stored yet (`python -m ctl_core evaluate`).")
else:
    both = prec[["model", "precision", "judged"]].merge(offline, left_on="model", right_on="method", how="left")
    st.dataframe(both.drop(columns=["method"]), hide_index=True, key="offline_vs_human")

st.subheader("Export")
st.caption("Judgments: one row per judgment; failure modes are codes joined by ';' (empty: none), models and ranks "
           "likewise (`model:rank`). `python -m ctl_core study export` writes these and the study's design as JSON.")
d1, d2, d3, d4 = st.columns(4)
d1.download_button("Judgments (CSV)", stats.csv_text(report.tidy_judgments(eng, sid)),
                   file_name=f"study{sid}_judgments.csv", key="dl_j")
d2.download_button("Precision summary (CSV)", stats.csv_text(prec), file_name=f"study{sid}_summary.csv", key="dl_s")
d3.download_button("Comparisons (CSV)", stats.csv_text(comp), file_name=f"study{sid}_comparisons.csv", key="dl_c")
d4.download_button("Annotator quality (CSV)", stats.csv_text(quality), file_name=f"study{sid}_annotators.csv",
                   key="dl_q")
