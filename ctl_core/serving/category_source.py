"""Which category a catalogue product is indexed, served and shown under: the shop's own, where it has one.

The paper indexes the catalogue by *predicted* category (Pinterest's pins carry none). A shop's import does carry
one (``catalogue.csv``'s ``category``, mapped from the shop's own product type), and a product manager who sees a
"Brick red beanie" under Shoes because the head said so has been misled. So a product's serving category is its
catalogue category when that is one of ours, else its predicted one (uploads, and catalogues whose rows carry
none). The category head still runs on every product: where it disagrees with the shop, the product goes on a
data-quality list (``disagreements``, written by the ``index`` step beside the catalogue inference as
``category_disagreements.csv``) for the shop to check — a wrong label in the shop's file, or a head that is wrong.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORY_INDEX
from ctl_core.io import atomic_path

DISAGREEMENTS_FILE = "category_disagreements.csv"
DISAGREEMENT_COLUMNS = ["product_id", "category", "pred_category", "confidence", "title"]


def from_catalogue(preds: pd.DataFrame) -> np.ndarray:
    """Per row of ``preds`` (catalogue inference), whether its catalogue ``category`` is one of ours."""
    return preds["category"].astype(str).isin(set(CATEGORY_INDEX)).to_numpy(dtype=bool)


def serving_categories(preds: pd.DataFrame) -> np.ndarray:
    """Per row of ``preds``: the catalogue category where it is one of ours, else ``pred_category``."""
    shop = from_catalogue(preds)
    return np.where(shop, preds["category"].astype(str).to_numpy(dtype=object),
                    preds["pred_category"].astype(str).to_numpy(dtype=object))


def disagreements(preds: pd.DataFrame, titles: dict[str, str] | None = None) -> pd.DataFrame:
    """Products whose catalogue category differs from the head's prediction, most confident prediction first."""
    m = from_catalogue(preds) & (preds["category"].astype(str) != preds["pred_category"].astype(str)).to_numpy()
    out = preds.loc[m, ["product_id", "category", "pred_category", "confidence"]].copy()
    out["title"] = [(titles or {}).get(p, "") for p in out["product_id"]]
    return out.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)


def disagreements_path(ws: Workspace, method: str):
    return ws.catalogue_dir(method) / DISAGREEMENTS_FILE


def write_disagreements(ws: Workspace, method: str, preds: pd.DataFrame,
                        titles: dict[str, str] | None = None) -> int:
    """Write the data-quality list of ``method``'s catalogue inference; returns how many products it holds."""
    from db.stats import neutralise_formulas  # here: db.stats pulls in statsmodels, slow for serving start-up

    table = disagreements(preds, titles)
    path = disagreements_path(ws, method)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        neutralise_formulas(table[DISAGREEMENT_COLUMNS]).to_csv(tmp, index=False)  # shop titles, opened in Excel
    return len(table)


def summary_line(ws: Workspace, method: str, manifest: dict) -> str:
    """One line for the build and ``index`` output: the disagreements and the products served on the import's word."""
    src = manifest.get("category_source", {})
    shop, n = int(src.get("catalogue", 0)), int(manifest.get("category_disagreements", 0))
    line = (f"categories: {shop:,} products indexed under the shop's own category, "
            f"{int(src.get('predicted', 0)):,} under the predicted one; the category head disagrees with the shop "
            f"on {n:,} ({100 * n / max(shop, 1):.1f}%): {disagreements_path(ws, method)}")
    if manifest.get("served_by_import_flag") or manifest.get("refused_by_import_flag"):
        line += (f"\nproduct shots: {manifest.get('served_by_import_flag', 0):,} served on the import's word though "
                 f"they score below the threshold, {manifest.get('refused_by_import_flag', 0):,} not served because "
                 f"the import says they are not product shots")
    return line
