"""Cached loaders and small UI helpers shared by the pages. Heavy objects load once per process."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
import torch

from app.nav import page
from ctl_core.config import METHODS, RERANKED_SUFFIX, Workspace
from ctl_core.data.tables import read_catalogue
from ctl_core.model.device import pick_device
from ctl_core.scene import SceneRecommender
from ctl_core.serving.recommender import Recommender
from ctl_core.threads import configure_threads
from ctl_core.workflows.demo import DemoStatus, demo_status
from db.session import init_db, make_engine
from db.studies import list_studies

PROJECT_ASSETS = Path(__file__).resolve().parent.parent / "assets"

METHOD_LABELS = {
    "classification": "Classification (proxy loss)",
    "siamese-16to1": "Siamese 16:1",
    "siamese-1to1": "Siamese 1:1",
    "triplet-random": "Triplet, random negatives",
    "triplet-category": "Triplet, category negatives",
}


def workspace() -> Workspace:
    """The workspace setting ($CTL_WORKSPACE or ./workspace)."""
    return Workspace.at()


def status(ws: Workspace) -> DemoStatus:
    return demo_status(ws)


def served_methods(ws: Workspace) -> list[str]:
    """Methods with a trained model and built indices, in the canonical order."""
    return [m for m in METHODS if ws.manifest_path(m).exists()]


def method_label(m: str) -> str:
    base = m.removesuffix(RERANKED_SUFFIX)
    return METHOD_LABELS.get(base, base) + (" + outfit re-ranking" if base != m else "")


@st.cache_resource(show_spinner="Loading the model and its indices…")
def get_recommender(root: str, method: str, stamp: tuple[float, float]):
    """One Recommender per (workspace, method); ``stamp`` (manifest and outfit-model mtimes) reloads it after a
    rebuild or once the outfit model is (re)trained."""
    configure_threads()  # torch's threads on the cores actually free (ctl_core.threads), before the model loads
    return Recommender(Workspace.at(root), method)


def recommender(ws: Workspace, method: str):
    outfit = ws.outfit_weights_path
    return get_recommender(str(ws.root), method, (ws.manifest_path(method).stat().st_mtime,
                                                  outfit.stat().st_mtime if outfit.exists() else 0.0))


@st.cache_resource(show_spinner="Loading the scene-based model…")
def get_scene_recommender(root: str, stamp: float):
    """The scene-based recommender (Kang et al. 2018) of a workspace; ``stamp`` reloads it after retraining."""
    return SceneRecommender(Workspace.at(root))


def scene_weights(ws: Workspace) -> Path:
    return ws.scene_weights_path


def scene_recommender(ws: Workspace):
    return get_scene_recommender(str(ws.root), scene_weights(ws).stat().st_mtime)


@st.cache_resource
def get_engine(url: str):
    engine = make_engine(url)
    init_db(engine)
    return engine


def engine(ws: Workspace):
    return get_engine(ws.db_url)


@st.cache_data(show_spinner=False)
def load_catalogue(path: str, mtime: float) -> pd.DataFrame:
    return read_catalogue(Path(path))


def catalogue(ws: Workspace) -> pd.DataFrame:
    return load_catalogue(str(ws.catalogue_csv), ws.catalogue_csv.stat().st_mtime)


def device_label() -> str:
    d = pick_device("auto")
    if d.type == "cuda":
        return f"GPU ({torch.cuda.get_device_name(d)})"
    return "CPU"


def image_path(ws: Workspace, rel: str) -> str:
    return str(ws.abs(rel))


def price_text(price) -> str:
    """"$12.50"; "" when the catalogue has no price for it (real shops' outfit data often has none)."""
    try:
        p = float(price)
    except (TypeError, ValueError):
        return ""
    return "" if p != p else f"${p:,.2f}"


def details(*parts: str) -> str:
    """The non-empty parts joined by " · " (callers escape data text first)."""
    return " · ".join(x for x in parts if x)


def require_demo(ws: Workspace) -> DemoStatus:
    """Stop the page with instructions when there is nothing to serve yet."""
    s = status(ws)
    if not s.ready:
        st.warning("Nothing to serve yet: the demo data, models or indices are missing. Open **Home** to build "
                   "them (a few minutes), or run `make run` / `python -m ctl_core demo` in a terminal.",
                   icon=":material/construction:")
        st.page_link(page("home"), label="Go to Home")
        st.stop()
    return s


def study_picker(eng, key: str = "study"):
    """A study selector (newest first); stops the page with a pointer to Studies when there is none."""
    studies = list_studies(eng)
    if not studies:
        st.info("No study yet. Create one on the Studies page (or `python -m ctl_core study create --name NAME`).")
        st.page_link(page("studies"), label="Go to Studies")
        st.stop()
    by_id = {s.study_id: s for s in studies}
    sid = st.selectbox("Study", list(by_id), key=key,
                       format_func=lambda i: f"{by_id[i].name} ({by_id[i].num_pairs} pairs, {by_id[i].status})")
    return by_id[sid]


def product_lookup(ws: Workspace) -> dict[str, dict]:
    """product_id -> catalogue row as a dict (image_path, category, title, price)."""
    df = catalogue(ws)
    return {r["product_id"]: r for r in df.to_dict("records")}
