"""Models: the offline evaluation (the paper's Table 4 on our data) and each run's config and training curves.

Figures are in percent, as in the README and the CLI's table; the paper's reported row sits under ours for reference.
"""
import altair as alt
import pandas as pd
import streamlit as st

from app import auth, loaders
from ctl_core.config import SCENE_METHOD
from ctl_core.evaluation import N_COLUMNS, PAPER_TABLE4, read_run_metrics, read_table4, wilson_interval
from ctl_core.model.ctl_model import read_curves, read_run_config

COUNTS = set(N_COLUMNS.values()) | {"n_FITB_external_skipped"}
PAPER_LABEL = "paper: {} (Li et al. 2020)"


def percent_table(table: pd.DataFrame) -> pd.DataFrame:
    """Table 4 in percent (counts as they are), with the paper's reported rows appended (no n: not reported)."""
    out = table.copy()
    for c in out.columns:
        if c != "method" and c not in COUNTS:
            out[c] = pd.to_numeric(out[c], errors="coerce") * 100
    paper = [{"method": PAPER_LABEL.format(m), **{c: v for c, v in fig.items() if c in out.columns}}
             for m, fig in PAPER_TABLE4.items()]
    return pd.concat([out, pd.DataFrame(paper)], ignore_index=True)


def as_text(table: pd.DataFrame) -> pd.DataFrame:
    """Figures as text: 1 decimal (category accuracy 2), counts whole, "–" where there is none (the grid would
    print None for a missing number)."""
    def cell(v: object, c: str) -> str:
        if v is None or pd.isna(v):
            return "–"
        return f"{v:.0f}" if c in COUNTS else f"{v:.2f}" if c == "category_acc" else f"{v:.1f}"

    return table.assign(**{c: [cell(v, c) for v in table[c]] for c in table.columns if c != "method"})


def bars(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, metric) in percent; FITB with its 95% Wilson interval from n_FITB."""
    rows = []
    for r in table.to_dict("records"):
        for metric in ("R@1", "R@5", "R@10", "FITB"):
            v = r.get(metric)
            if v is None or pd.isna(v):
                continue
            lo = hi = None
            n = r.get(N_COLUMNS["FITB"])
            if metric == "FITB" and n is not None and not pd.isna(n) and not r["method"].startswith("paper"):
                lo, hi = (100 * x for x in wilson_interval(round(v / 100 * n), int(n)))
            rows.append({"method": r["method"], "metric": metric, "percent": v, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


auth.require_page("models")
ws = loaders.workspace()
st.title("Models")

table = read_table4(ws)
if table is None:
    st.warning("No offline evaluation yet. Run `python -m ctl_core evaluate` (the demo build runs it too).",
               icon=":material/construction:")
else:
    st.subheader("Offline evaluation (Table 4), percent")
    st.caption("Recall@K: each item of a 5-item test outfit queries a corpus of 200 = its 4 outfit-mates + random "
               "negatives; `_cat` columns restrict the corpus to one category at a time (mean over categories). "
               "FITB: pick the missing item among 4 candidates of its category. `random` and `visual` "
               "(the backbone's own features, no style training) are baselines; they have no category head (–). "
               "Each group of figures has its n beside it: `n_R@K` test outfits, `n_FITB` questions, "
               "`n_category_acc` test items (`n_FITB_external`: imported questions scored, "
               "`n_FITB_external_skipped`: left out). The last row is the paper's (Li et al. 2020, Table 4, on "
               "Pinterest's data; n not reported there), for reference only: other data, other protocol details.")
    shown = percent_table(table)
    st.dataframe(as_text(shown), hide_index=True, key="eval_table")
    long = bars(shown)
    order = list(shown["method"])
    base = alt.Chart().encode(
        x=alt.X("method:N", sort=order, title=None, axis=alt.Axis(labelAngle=-45, labelOverlap=False,
                                                                  labelLimit=200)))
    chart = alt.layer(
        base.mark_bar().encode(
            y=alt.Y("percent:Q", scale=alt.Scale(domain=[0, 100]), title="percent"),
            color=alt.Color("method:N", sort=order, legend=None),
            tooltip=["method", "metric", alt.Tooltip("percent:Q", format=".1f"),
                     alt.Tooltip("ci_low:Q", format=".1f", title="95% low"),
                     alt.Tooltip("ci_high:Q", format=".1f", title="95% high")]),
        base.mark_rule(color="black", strokeWidth=1.5).encode(y="ci_low:Q", y2="ci_high:Q"),
        data=long,
    ).properties(width=150, height=220).facet(column=alt.Column("metric:N", sort=["R@1", "R@5", "R@10", "FITB"],
                                                                title=None))
    st.altair_chart(chart)
    st.caption("Black lines on the FITB bars: 95% Wilson intervals over the n_FITB questions. R@K has no interval "
               "drawn: its queries are the items of n_R@K outfits, which are not independent.")

sm = read_run_metrics(ws, SCENE_METHOD)
if sm is not None:
    st.subheader("Scene-based CTL baseline (Kang et al. 2018), percent")
    st.caption("A collage with one product whited out is the query; the masked product must be found among 3 "
               "same-category distractors (FITB) or 199 random products (R@K). Its own protocol: compare only "
               "within this table.")
    keys = ["FITB", "R@1", "R@5", "R@10"]
    rows = [{"distance": "hybrid (global + attention-weighted local)", **{k: sm.get(k) for k in keys}}]
    rows += [{"distance": name, **{k: v.get(k) for k in keys}} for name, v in sm.get("baselines", {}).items()]
    scene = pd.DataFrame(rows)
    scene[keys] = scene[keys].apply(pd.to_numeric, errors="coerce") * 100
    st.dataframe(as_text(scene.rename(columns={"distance": "method"})).rename(columns={"method": "distance"}),
                 hide_index=True, key="scene_table")

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
        st.dataframe(pd.DataFrame({"metric": list(flat), "value": [
            f"{v:.0f}" if k.startswith("n_") else f"{v * 100:.2f} %" if k == "category_acc" else f"{v * 100:.1f} %"
            for k, v in flat.items()]}), hide_index=True, key="run_metrics")
with c2:
    curves = read_curves(ws, m)
    if curves is not None:
        x = "epoch" if "epoch" in curves.columns else curves.columns[0]
        shares = [c for c in curves.columns if "acc" in c or c == "active_triplets"]
        curves[shares] = curves[shares] * 100
        groups = {"Losses": [c for c in curves.columns if "loss" in c],
                  "Accuracies, percent (train and held-out)": [c for c in curves.columns if "acc" in c],
                  "Triplets still inside the margin, percent": [c for c in curves.columns if c == "active_triplets"]}
        for title, ys in groups.items():
            if not ys:
                continue
            long = curves.melt(id_vars=x, value_vars=ys, var_name="series", value_name="value")
            st.markdown(f"**{title}**")
            st.altair_chart(alt.Chart(long).mark_line(point=True).encode(
                x=f"{x}:Q", y="value:Q", color="series:N",
                tooltip=[x, "series", alt.Tooltip("value:Q", format=".3f")]).properties(height=220),
                width="stretch")
        st.caption(
            "Losses and `category_acc` are averaged over the training batches of each epoch, with dropout on; "
            "`val_` series are measured after the epoch on the held-out items, in eval mode. `val_pair_acc`: how "
            "often an outfit-mate of another category is closer than a random item. The triplet loss is averaged "
            "over the triplets that still violate the margin only, so it stays near the margin while "
            "`active_triplets` (the share of triplets that still violate it) falls: that share and "
            "`val_pair_acc` show the learning. A sudden rise of `category_loss` after many epochs near 0 is a "
            "real jump of the weights, not a recording artefact (`val_category_acc` dips with it, then "
            "recovers): Adam divides each step by a running mean of squared gradients, which decays while the "
            "loss sits near 0, so the next larger gradient makes a large step (on Mango at epochs 39 and 80 of "
            "80; a 40-epoch run had it on its last epoch).")
