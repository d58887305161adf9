"""Shop a scene: the scene-based baseline (Kang et al. 2018) — a whole outfit picture in, products out."""
import streamlit as st

from app import auth, loaders, widgets
from app.widgets import md
from ctl_core.images import MAX_UPLOAD_BYTES, ImageError, load_image

auth.require_page("scene")
ws = loaders.workspace()
st.title("Shop a scene")
st.caption("Scene-based Complete the Look (Kang et al. 2018, the paper's baseline): upload a collage or outfit "
           "picture; every product shot is ranked by the scene model's hybrid (global + attention-weighted local) "
           "distance, and the best products of each category are shown.")
if not loaders.scene_weights(ws).exists():
    st.warning("No scene-based model yet. Train it with `python -m ctl_core scene train` (a few CPU minutes on "
               "the demo), then come back.", icon=":material/construction:")
    st.stop()

with st.sidebar:
    st.header("Results")
    k = st.slider("Products per category", 1, 20, 6, key="scene_k")
    max_categories = st.slider("Categories shown", 1, 10, 4, key="scene_max_categories")

up = st.file_uploader("Scene image (JPEG, PNG or WebP)", type=["jpg", "jpeg", "png", "webp"], key="scene_upload",
                      max_upload_size=MAX_UPLOAD_BYTES // (1024 * 1024))
if up is None:
    st.info("Upload a scene to see the products that go with it.")
    st.stop()
try:
    scene_img = load_image(up.getvalue(), name=up.name)  # decoded once; the library takes the image as is
except ImageError as e:
    st.error(f"This file cannot be used: {md(e)}")
    st.stop()

found = loaders.scene_recommender(ws).recommend(scene_img, k=k)
st.session_state["last_scene_recommendation"] = found
left, right = st.columns([1, 3])
left.image(scene_img, caption="Scene", width="stretch")
with right:
    st.caption("Per-stage timings")
    widgets.timings(found["timings_ms"])
for cat, results in list(found["per_category"].items())[:max_categories]:
    st.markdown(f"##### {md(cat)}")
    widgets.result_grid(ws, results, columns=6, key=f"scene_{cat}")
