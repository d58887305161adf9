"""Complete the Look: choose or upload a product, see the query understanding and the complementary items."""
import streamlit as st
from PIL import Image

from app import auth, loaders, widgets
from app.widgets import md
from ctl_core.data.categories import CATEGORIES
from ctl_core.images import MAX_UPLOAD_BYTES, ImageError, load_image
from ctl_core.serving.recommender import BlendConfig

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
    if compare:
        others = st.multiselect("Compare with (up to 2)", [m for m in methods if m != method], max_selections=2,
                                default=[m for m in methods if m != method][:1], format_func=loaders.method_label,
                                key="compare_models")
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

sources = ["Browse the catalogue", "Search by id", "Upload an image"]
source = st.segmented_control("Query product", sources, default="Browse the catalogue", key="query_source")

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
                    st.rerun()
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


# ---- one call into the library per method -------------------------------------------------------------
def run(m: str) -> dict | None:
    try:
        rec = loaders.recommender(ws, m).recommend(
            item_id=query_item, image=query_image, k=max(10, k), max_categories=max_categories,
            blend=BlendConfig(price_weight=price_weight, diversity=diversity, per_category_k=k,
                              dedupe=not show_duplicates))
    except ValueError as e:  # bad image, not a product shot, unknown id: say what is wrong
        st.error(md(e))
        return None
    return rec.to_dict()


out = run(method)
if out is None:
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
with right:
    st.subheader("Query understanding")
    widgets.query_card(q)
    st.caption("Per-stage timings")
    widgets.timings(out["timings_ms"])

if compare and others:
    st.subheader("Side by side: blended results")
    cols = st.columns(1 + len(others))
    for col, m, res in zip(cols, [method] + others, [out] + [run(m) for m in others]):
        with col:
            st.markdown(f"#### {loaders.method_label(m)}")
            if res is not None:
                widgets.result_grid(ws, res["results"], columns=2, key=f"cmp_{m}")
    st.stop()

st.subheader(f"Completes the look — {loaders.method_label(method)}")
widgets.result_grid(ws, out["results"], columns=5, key="blended")
st.divider()
st.subheader("By complementary category")
for cat, results in out["per_category"].items():
    st.markdown(f"##### {md(cat)}")
    widgets.result_grid(ws, results, columns=6, key=f"cat_{cat}")
