"""Display helpers shared by pages: result grids, the query-understanding card, and ``md`` for data in Markdown.

Streamlit reads every ``st.markdown``/``st.caption``/``st.error``/... body, and pill and button labels, as Markdown:
an image there is fetched (``![](http://...)``), a link followed, ``:red[...]`` and ``$...$`` rendered. Text that
comes from data (catalogue titles and ids, names, comments, study names, failure modes, error messages that quote
them) goes through ``md`` first, or is shown with ``st.text``/``st.dataframe``; nothing passes
``unsafe_allow_html``.
"""
from __future__ import annotations

import re

import streamlit as st
from PIL import Image

from app.loaders import details, price_text
from ctl_core.config import Workspace
from ctl_core.images import displayable

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&^])")
# GFM links bare URLs and e-mail addresses after parsing, so escapes cannot stop it; an invisible WORD JOINER
# (U+2060) before "http://", "https://", "www." and after "@" does (the linker needs a space or punctuation there).
_AUTOLINK = re.compile(r"(?i)(?=https?://|www\.)|(?<=@)(?=\w)")
WORD_JOINER = "\u2060"



def product_image(path, max_height: int | None = None, **kw) -> None:
    """``st.image`` of a catalogue file that can never break the page: an unshowable file gets a short note.
    ``max_height`` (px, with an integer ``width``): a narrower width for tall images, so none is taller than that."""
    if not displayable(path):
        st.caption("(image cannot be shown)")
        return
    if max_height is not None and isinstance(kw.get("width"), int):
        with Image.open(path) as im:  # reads the header only
            w, h = im.size
        kw["width"] = max(1, min(kw["width"], round(max_height * w / max(h, 1))))
    st.image(str(path), **kw)

def md(text: object) -> str:
    """``text`` shown literally inside Markdown: every Markdown, HTML and directive character backslash-escaped, bare
    URLs and e-mail addresses kept from becoming links, on one line (whitespace runs become one space)."""
    flat = _AUTOLINK.sub(WORD_JOINER, " ".join(str(text).split()))
    return _MD_SPECIAL.sub(r"\\\1", flat)


def result_grid(ws: Workspace, results: list[dict], columns: int = 5, key: str = "grid") -> None:
    """Images in a grid, each captioned with category, price and distance."""
    if not results:
        st.caption("No results.")
        return
    for start in range(0, len(results), columns):
        cols = st.columns(columns)
        for col, r in zip(cols, results[start:start + columns]):
            with col:
                product_image(ws.abs(r["image_path"]), width="stretch")
                title = r.get("title") or r["item_id"]
                st.markdown(f"**{md(title)}**  \n{details(md(r['category']), price_text(r.get('price')))}")
                st.caption(f"distance {r['distance']:.3f} · {md(r['item_id'])}")


def query_card(query: dict) -> None:
    """The query-understanding stage: category, confidence, product-shot check, complementary categories."""
    if query.get("category_source") == "catalogue":  # the shop's own category: say whether the head agrees
        pred = query.get("predicted_category")
        head = (f"the category head agrees, {query['confidence']:.0%}" if pred == query["category"] else
                f"the category head predicts {md(pred)}, {query['confidence']:.0%}")
        st.markdown(f"**Category:** {md(query['category'])} (the shop's; {head})")
    else:
        st.markdown(f"**Predicted category:** {md(query['category'])} ({query['confidence']:.0%} confidence)")
    score = query.get("product_shot_score")
    if score is not None:
        st.markdown(f"**Product-shot check:** {'passed' if query.get('is_product_shot') else 'failed'} "
                    f"(score {score:.2f})")
    if query.get("warning"):
        st.warning(md(query["warning"]), icon=":material/warning:")
    st.markdown("**Complementary categories:** " + ", ".join(md(c) for c in query.get("complementary", [])))
    st.markdown("**Ranking:** " + ("pairwise style distance, then the outfit model re-orders each category's top "
                                   "candidates" if query.get("reranked") else "pairwise style distance"))


def timings(t: dict) -> None:
    cols = st.columns(len(t))
    for col, (name, ms) in zip(cols, t.items()):
        col.metric(name.replace("_", " "), duration_text(ms))


def duration_text(ms: float) -> str:
    """Short enough for a metric in a sixth of the page (six stages with re-ranking): 0.4 ms, 9.5 ms, 13 ms, 117 ms,
    1.25 s."""
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
