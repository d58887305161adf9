"""The app's pages, built once per process so pages can link to each other with ``st.page_link(page("home"))``."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"

_SPEC = {  # key: (file, title, icon, url_path, section)
    "home": ("home.py", "Home", ":material/home:", "home", "Demo"),
    "ctl": ("complete_the_look.py", "Complete the Look", ":material/checkroom:", "complete-the-look", "Demo"),
    "scene": ("shop_a_scene.py", "Shop a scene", ":material/photo_camera:", "shop-a-scene", "Demo"),
    "models": ("models.py", "Models", ":material/analytics:", "models", "Demo"),
    "studies": ("studies.py", "Studies", ":material/assignment:", "studies", "Human evaluation"),
    "label": ("label.py", "Label pairs", ":material/thumbs_up_down:", "label", "Human evaluation"),
    "results": ("results.py", "Results", ":material/leaderboard:", "results", "Human evaluation"),
}


@lru_cache(maxsize=1)
def _pages() -> dict:
    return {key: st.Page(PAGES_DIR / f, title=t, icon=i, url_path=u, default=(key == "home"))
            for key, (f, t, i, u, _) in _SPEC.items()}


def page(key: str):
    return _pages()[key]


def sections() -> dict[str, list]:
    out: dict[str, list] = {}
    for key, spec in _SPEC.items():
        out.setdefault(spec[4], []).append(page(key))
    return out
