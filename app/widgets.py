"""Display helpers shared by pages: result grids and the query-understanding card."""
from __future__ import annotations

import streamlit as st

from app.loaders import price_text
from ctl_core.config import Workspace


def result_grid(ws: Workspace, results: list[dict], columns: int = 5, key: str = "grid") -> None:
    """Images in a grid, each captioned with category, price and distance."""
    if not results:
        st.caption("No results.")
        return
    for start in range(0, len(results), columns):
        cols = st.columns(columns)
        for col, r in zip(cols, results[start:start + columns]):
            with col:
                st.image(str(ws.abs(r["image_path"])), width="stretch")
                title = r.get("title") or r["item_id"]
                st.markdown(f"**{title}**  \n{r['category']} · {price_text(r.get('price'))}  \n"
                            f"<span style='color:gray'>distance {r['distance']:.3f} · `{r['item_id']}`</span>",
                            unsafe_allow_html=True)


def query_card(query: dict) -> None:
    """The query-understanding stage: category, confidence, product-shot check, complementary categories."""
    st.markdown(f"**Predicted category:** {query['category']} ({query['confidence']:.0%} confidence)")
    score = query.get("product_shot_score")
    if score is not None:
        st.markdown(f"**Product-shot check:** {'passed' if query.get('is_product_shot') else 'failed'} "
                    f"(score {score:.2f})")
    if query.get("warning"):
        st.warning(query["warning"], icon=":material/warning:")
    st.markdown("**Complementary categories:** " + ", ".join(query.get("complementary", [])))


def timings(t: dict) -> None:
    cols = st.columns(len(t))
    for col, (name, ms) in zip(cols, t.items()):
        col.metric(name.replace("_", " "), f"{ms:.1f} ms")
