"""Complete the Look: choose or upload a product, see the query understanding and the complementary items."""
import streamlit as st
from PIL import Image

from app import auth, loaders, widgets
from app.widgets import md
from ctl_core.data.categories import CATEGORIES
from ctl_core.images import MAX_UPLOAD_BYTES, ImageError, load_image
from ctl_core.serving.recommender import MAX_OUTFIT_ITEMS, BlendConfig, RerankConfig

auth.require_page("ctl")
ws = loaders.workspace()
loaders.require_demo(ws)
methods = loaders.served_methods(ws)
catalogue = loaders.catalogue(ws)

st.title("Complete the Look")

# ---- inputs -------------------------------------------------------------------------------------------
with st.sidebar:
    st.header("Model")
    default = methods.index("triplet-category") if "triplet-category" in methods else 0
    method = st.selectbox("Method", methods, index=default, format_func=loaders.method_label, key="model")
    compare = st.toggle("Side by side: compare methods", key="compare")
    others = []
    if compare and len(methods) < 2:
        st.info("Side by side needs a second trained method; only one is served. Train and index one, e.g. "
                "`python -m ctl_core train --method classification` then `python -m ctl_core index --model "
                "classification` (or `build --methods ...`).", icon=":material/info:")
    elif compare:
        others = st.multiselect("Compare with (up to 2)", [m for m in methods if m != method], max_selections=2,
                                default=[m for m in methods if m != method][:1], format_func=loaders.method_label,
                                key="compare_models")
    has_outfit_model = ws.outfit_weights_path.exists()
    rerank = st.toggle("Re-rank with the outfit model", value=has_outfit_model, disabled=not has_outfit_model,
                       key="rerank", help="The outfit model (a set transformer over the whole look) re-orders each "
                                          "category's top 50 candidates given every product of the query.")
    if not has_outfit_model:
        st.caption("No outfit model in this workspace yet: `python -m ctl_core train --method outfit-transformer`.")
    compare_rerank = has_outfit_model and st.toggle("Side by side: with and without re-ranking",
                                                    key="compare_rerank")
    st.header("Results")
    k = st.slider("Results per category", 1, 20, 6, key="k")
    max_categories = st.slider("Complementary categories shown", 1, 10, 4, key="max_categories")
    st.header("Blending (beyond the paper)")
    price_weight = st.slider("Price-aware matching", 0.0, 1.0, 0.0, 0.1, key="price_weight",
                             help="Pushes down items whose price is far from the query's (0 = off).")
    diversity = st.slider("Diversity", 0.0, 1.0, 0.0, 0.1, key="diversity",
                          help="Re-ranks so results are less alike each other (0 = off).")
    show_duplicates = st.toggle("Show colour variants and near-identical images", key="show_duplicates",
                                help="Off: one colour of each model and one of near-identical images per list.")
    refuse_non_product = st.toggle("Refuse uploads that are not product shots", key="refuse_non_product",
                                   help="Off: such an upload gets a warning beside its results.")

sources = ["Browse the catalogue", "Search by id", "Upload an image"]
# required: clicking the selected option keeps it (it used to deselect it and fall through to Upload)
source = st.segmented_control("Query product", sources, default="Browse the catalogue", key="query_source",
                              required=True)

def add_to_outfit(pid: str) -> None:
    """Button callback: runs before the page is drawn again, so every count on it already includes ``pid``."""
    items = st.session_state.setdefault("outfit_items", [])
    if pid not in items and pid != st.session_state.get("query_item") and len(items) < MAX_OUTFIT_ITEMS - 1:
        items.append(pid)


def add_typed_to_outfit() -> None:
    typed = st.session_state.get("outfit_add_id", "").strip()
    if typed and typed not in set(catalogue["product_id"]):
        st.session_state["outfit_add_error"] = typed
    elif typed:
        add_to_outfit(typed)


def remove_from_outfit(pid: str | None = None) -> None:
    st.session_state["outfit_items"] = [i for i in st.session_state.get("outfit_items", []) if pid and i != pid]


query_item: str | None = st.session_state.get("query_item")
query_image: Image.Image | None = None  # an upload, decoded once here and handed to the library as is
if source == "Browse the catalogue":
    with st.expander("Choose a product from the catalogue", expanded=query_item is None):
        c1, c2 = st.columns([2, 1])
        present = [c for c in CATEGORIES if c in set(catalogue["category"])]
        cat = c1.selectbox("Category", present, key="browse_category")
        shots = catalogue[(catalogue["category"] == cat)]
        per_page = 12
        pages_n = max(1, -(-len(shots) // per_page))
        pg = c2.number_input(f"Page (of {pages_n})", 1, pages_n, 1, key="browse_page")
        sub = shots.iloc[(pg - 1) * per_page: pg * per_page]
        cols = st.columns(6)
        for i, row in enumerate(sub.itertuples()):
            with cols[i % 6]:
                widgets.product_image(ws.abs(row.image_path), width="stretch")
                st.caption(f"{md(row.title)}  \n{loaders.price_text(row.price)}".rstrip())
                if st.button("Complete this look", key=f"pick_{row.product_id}", width="stretch",
                             type="primary" if row.product_id == query_item else "secondary"):
                    st.session_state["query_item"] = query_item = row.product_id
                    st.session_state["outfit_items"] = []  # a new query starts a new outfit
                    st.rerun()
                if query_item not in (None, row.product_id):
                    st.button("Add to the outfit", key=f"add_{row.product_id}", width="stretch",
                              on_click=add_to_outfit, args=(row.product_id,),
                              disabled=row.product_id in st.session_state.get("outfit_items", [])
                              or len(st.session_state.get("outfit_items", [])) >= MAX_OUTFIT_ITEMS - 1)
elif source == "Search by id":
    example = str(catalogue["product_id"].iloc[0]) if len(catalogue) else "p00042"
    typed = st.text_input(f"Product id (e.g. {example})", key="item_id").strip()
    if typed:
        if typed not in set(catalogue["product_id"]):
            st.error(f"No product with id {md(repr(typed))} in the catalogue.")
            st.stop()
        query_item = typed
else:
    up = st.file_uploader("Product image (JPEG, PNG or WebP; a product shot on a plain background works best)",
                          type=["jpg", "jpeg", "png", "webp"], key="upload",
                          max_upload_size=MAX_UPLOAD_BYTES // (1024 * 1024))
    if up is None:
        st.info("Upload a product photo to see what completes its look.")
        st.stop()
    data = up.getvalue()
    if len(data) > MAX_UPLOAD_BYTES:
        st.error(f"{md(up.name)}: the file is {len(data) / 1e6:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB.")
        st.stop()
    try:
        query_image, query_item = load_image(data, name=up.name), None
    except ImageError as e:
        st.error(f"This file cannot be used: {md(e)}")
        st.stop()

if query_item is None and query_image is None:
    st.info("Pick a product above (or search by id, or upload an image) to complete its look.")
    st.stop()

# ---- a partial outfit: up to four more catalogue products beside the query ------------------------------
outfit_items: list[str] = [i for i in st.session_state.get("outfit_items", []) if i != query_item]
with st.expander(f"Outfit so far: the query + {len(outfit_items)} more (add up to {MAX_OUTFIT_ITEMS - 1})",
                 expanded=bool(outfit_items)):
    st.caption("Products added here are completed together: only the categories the outfit still lacks are "
               "served, and the outfit model (when on) weighs every one of them. Add from the catalogue grid "
               "(\"Add to the outfit\") or by id.")
    a1, a2 = st.columns([3, 1], vertical_alignment="bottom")
    a1.text_input("Add a product by id", key="outfit_add_id")
    a2.button("Add", key="outfit_add", disabled=len(outfit_items) >= MAX_OUTFIT_ITEMS - 1,
              on_click=add_typed_to_outfit)
    if (bad := st.session_state.pop("outfit_add_error", None)) is not None:
        st.error(f"No product with id {md(repr(bad))} in the catalogue.")
    if outfit_items:
        cols = st.columns(MAX_OUTFIT_ITEMS - 1)
        by_id = catalogue.drop_duplicates("product_id").set_index("product_id")
        for col, pid in zip(cols, list(outfit_items)):
            with col:
                row = by_id.loc[pid]
                widgets.product_image(ws.abs(row["image_path"]), width="stretch")
                st.caption(loaders.details(md(row["title"]), md(row["category"]), md(pid)))
                st.button("Remove", key=f"outfit_remove_{pid}", width="stretch", on_click=remove_from_outfit,
                          args=(pid,))
        st.button("Clear the outfit", key="outfit_clear", on_click=remove_from_outfit)
area = st.empty()  # everything the query shows, replaced as a whole (one element after the inputs' one element)


# ---- one call into the library per method -------------------------------------------------------------
# A slow query (a model loading, a busy machine) shows a progress bar in place of the last query's output: the
# area is replaced as a whole, so the page never shows a new product's captions beside the previous images.
def run(m: str, reranked: bool, done: int, total: int) -> dict | str:
    bar.progress(done / total, text=f"{loaders.method_label(m)}: loading the model and its indices…")
    rec = loaders.recommender(ws, m)
    bar.progress((done + 0.5) / total, text=f"{loaders.method_label(m)}: understanding the query, retrieving, "
                                            + ("re-ranking, " if reranked else "") + "blending…")
    try:
        return rec.recommend(
            item_id=query_item, image=query_image, items=outfit_items, k=max(10, k), max_categories=max_categories,
            blend=BlendConfig(price_weight=price_weight, diversity=diversity, per_category_k=k,
                              dedupe=not show_duplicates),
            on_non_product="refuse" if refuse_non_product else "warn",
            rerank=RerankConfig(enabled=reranked)).to_dict()
    except ValueError as e:  # bad image, not a product shot, unknown id: say what is wrong
        return str(e)


def variant_label(m: str, reranked: bool) -> str:
    return loaders.method_label(m) + (" + outfit re-ranking" if reranked and has_outfit_model else "")


# (method, re-ranked) per column: the chosen method, then the methods compared with, or the same without re-ranking
shown = [(method, rerank)] + ([(m, rerank) for m in others] if compare else []) \
    + ([(method, not rerank)] if compare_rerank else [])
bar = area.progress(0.0, text="Completing the look…")
outs = [run(m, r, i, len(shown)) for i, (m, r) in enumerate(shown)]
out = outs[0]
with area.container():
    if isinstance(out, str):
        st.error(md(out))
        st.stop()
    st.session_state["last_recommendation"] = {"method": method, **out}  # what is shown, for tests and debugging

    # ---- display ------------------------------------------------------------------------------------------
    q = out["query"]
    left, right = st.columns([1, 3])
    with left:
        st.subheader("Query")
        if query_image is not None:
            st.image(query_image, width="stretch")
        else:
            row = catalogue[catalogue["product_id"] == query_item].iloc[0]
            widgets.product_image(ws.abs(row["image_path"]), width="stretch")
            st.caption(loaders.details(md(row["title"]), md(row["category"]), loaders.price_text(row["price"]),
                                       md(query_item)))
        if len(q["outfit"]) > 1:
            st.caption(f"Outfit of {len(q['outfit'])} products: "
                       + ", ".join(md(m["category"]) for m in q["outfit"]) + ". Served: what it still lacks.")
    with right:
        st.subheader("Query understanding")
        widgets.query_card(q)
        st.caption("Per-stage timings")
        widgets.timings(out["timings_ms"])

    if len(shown) > 1:
        st.subheader("Side by side: blended results")
        cols = st.columns(len(shown))
        for col, (m, r), res in zip(cols, shown, outs):
            with col:
                st.markdown(f"#### {variant_label(m, r)}")
                if isinstance(res, str):
                    st.error(md(res))
                else:
                    widgets.result_grid(ws, res["results"], columns=2, key=f"cmp_{m}")
        st.stop()

    st.subheader(f"Completes the look — {variant_label(method, rerank)}")
    widgets.result_grid(ws, out["results"], columns=5, key="blended")
    st.divider()
    st.subheader("By complementary category")
    for cat, results in out["per_category"].items():
        st.markdown(f"##### {md(cat)}")
        widgets.result_grid(ws, results, columns=6, key=f"cat_{cat}")
