"""The app's pages, built once per process so pages can link to each other with ``st.page_link(page("home"))``.

Each page names the least role that may open it (``db.schema.ROLES``: stylist < researcher < admin; None: anyone,
signed in or not). The navigation lists only the pages the signed-in role may open, and each page checks again
itself (``app.auth.require_page``), so typing the URL of a page does not get round the menu.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import streamlit as st

from db.accounts import role_at_least

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"

_SPEC = {  # key: (file, title, icon, url_path, section, least role)
    "home": ("home.py", "Home", ":material/home:", "home", "Explore", None),
    "ctl": ("complete_the_look.py", "Complete the Look", ":material/checkroom:", "complete-the-look", "Explore",
            "researcher"),
    "scene": ("shop_a_scene.py", "Shop a scene", ":material/photo_camera:", "shop-a-scene", "Explore", "researcher"),
    "models": ("models.py", "Models", ":material/analytics:", "models", "Explore", "researcher"),
    "studies": ("studies.py", "Studies", ":material/assignment:", "studies", "Human evaluation", "admin"),
    "label": ("label.py", "Label pairs", ":material/thumbs_up_down:", "label", "Human evaluation", "stylist"),
    "results": ("results.py", "Results", ":material/leaderboard:", "results", "Human evaluation", "researcher"),
    "review": ("review.py", "Review", ":material/gavel:", "review", "Human evaluation", "admin"),
    "users": ("users.py", "Users", ":material/group:", "users", "Admin", "admin"),
}


@lru_cache(maxsize=1)
def _pages() -> dict:
    return {key: st.Page(PAGES_DIR / f, title=t, icon=i, url_path=u, default=(key == "home"))
            for key, (f, t, i, u, _, _) in _SPEC.items()}


def page(key: str):
    return _pages()[key]


def least_role(key: str) -> str | None:
    """The least role that may open page ``key`` (None: anyone)."""
    return _SPEC[key][5]


def allowed(key: str, role: str | None, accounts_exist: bool) -> bool:
    """Whether ``role`` (None: not signed in) may open page ``key``. Without accounts (the demo) every page is open."""
    need = least_role(key)
    return not accounts_exist or need is None or role_at_least(role, need)


def sections(role: str | None = None, accounts_exist: bool = False, everything: bool = False) -> dict[str, list]:
    """The navigation menu: the pages ``role`` may open, by section (``everything``: all pages, for the hidden
    navigation before sign-in, where each page's own gate asks for sign-in)."""
    out: dict[str, list] = {}
    for key, spec in _SPEC.items():
        if everything or allowed(key, role, accounts_exist):
            out.setdefault(spec[4], []).append(page(key))
    return out
