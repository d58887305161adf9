"""Models: the offline evaluation (the paper's Table 4 on our data) and each run's config and training curves."""
import altair as alt
import pandas as pd
import streamlit as st

from app import auth, loaders
from ctl_core.config import SCENE_METHOD
from ctl_core.evaluation import read_run_metrics, read_table4
from ctl_core.model.ctl_model import read_curves, read_run_config

auth.require_page("models")
ws = loaders.workspace()
st.title("Models")

table = read_table4(ws)
if table is None:
    st.warning("No offline evaluation yet. Run `python -m ctl_core evaluate` (the demo build runs it too).",
               icon=":material/construction:")
else:
    st.subheader("Offline evaluation (Table 4)")
    st.caption("Recall@K: each item of a 5-item test outfit queries a corpus of 200 = its 4 outfit-mates + random "
               "negatives; `_cat` columns restrict the corpus to one category at a time (mean over categories). "
               "FITB: pick the missing item among 4 candidates of its category. `random` and `visual` "
               "(the backbone's own features, no style training) are baselines. Each group of figures has its "
               "n beside it: `n_R@K` test outfits, `n_FITB` questions, `n_category_acc` test items "
               "(`n_FITB_external`: imported questions scored, `n_FITB_external_skipped`: left out).")
    st.dataframe(table, hide_index=True, key="eval_table",
                 column_config={c: st.column_config.NumberColumn(format="%d" if c.startswith("n_") else "%.3f")
                                for c in table.columns if c != "method"})
    metrics = [c for c in ("R@1", "R@5", "R@10", "FITB") if c in table.columns]
    long = table.melt(id_vars="method", value_vars=metrics, var_name="metric", value_name="value")
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("method:N", sort=list(table["method"]), title=None,
                axis=alt.Axis(labelAngle=-45, labelOverlap=False, labelLimit=160)),
        y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("method:N", sort=list(table["method"]), legend=None),
        column=alt.Column("metric:N", sort=metrics, title=None),
        tooltip=["method", "metric", alt.Tooltip("value:Q", format=".3f")],
    ).properties(width=150, height=220)
    st.altair_chart(chart)

sm = read_run_metrics(ws, SCENE_METHOD)
if sm is not None:
    st.subheader("Scene-based CTL baseline (Kang et al. 2018)")
    st.caption("A collage with one product whited out is the query; the masked product must be found among 3 "
               "same-category distractors (FITB) or 199 random products (R@K). Its own protocol: compare only "
               "within this table.")
    keys = ["FITB", "R@1", "R@5", "R@10"]
    rows = [{"distance": "hybrid (global + attention-weighted local)", **{k: sm.get(k) for k in keys}}]
    rows += [{"distance": name, **{k: v.get(k) for k in keys}} for name, v in sm.get("baselines", {}).items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="scene_table")

st.subheader("Training runs")
trained = ws.trained_methods()
if not trained:
    st.info("No trained model yet: `python -m ctl_core train --method triplet-category`.")
    st.stop()
m = st.selectbox("Run", trained, format_func=loaders.method_label, key="run")
c1, c2 = st.columns([1, 2])
with c1:
    st.markdown("**Resolved config**")
    st.json(read_run_config(ws, m), expanded=False)
    metrics_json = read_run_metrics(ws, m)
    if metrics_json is not None:
        st.markdown("**Offline metrics**")
        flat = {k: v for k, v in metrics_json.items() if isinstance(v, (int, float))}
        st.dataframe(pd.DataFrame({"metric": list(flat), "value": list(flat.values())}), hide_index=True,
                     key="run_metrics")
with c2:
    curves = read_curves(ws, m)
    if curves is not None:
        x = "epoch" if "epoch" in curves.columns else curves.columns[0]
        groups = {"Losses": [c for c in curves.columns if "loss" in c],
                  "Accuracies (train and held-out)": [c for c in curves.columns if "acc" in c]}
        for title, ys in groups.items():
            if not ys:
                continue
            long = curves.melt(id_vars=x, value_vars=ys, var_name="series", value_name="value")
            st.markdown(f"**{title}**")
            st.altair_chart(alt.Chart(long).mark_line(point=True).encode(
                x=f"{x}:Q", y="value:Q", color="series:N", tooltip=[x, "series", "value"]).properties(height=220),
                width="stretch")
