"""Compare the catalogue inference and per-category indices of one method in two workspaces (e.g. the local engine's
and the Ray engine's over copies of one workspace): same products, categories and index ids, and the largest
embedding, index-vector and product-shot-score differences. Exits 1 when products, categories or ids differ.

Usage: .venv/bin/python scripts/compare_indices.py WS_A WS_B [METHOD]

To compare the engines on a built workspace WS (``cp -a`` keeps the mtimes that the person detector checks):
    cp -a WS /tmp/ws_ray && rm -rf /tmp/ws_ray/catalogue/METHOD
    .venv/bin/python -m ctl_core --workspace /tmp/ws_ray index --model METHOD --engine ray --ray-actors 2
    .venv/bin/python scripts/compare_indices.py WS /tmp/ws_ray METHOD
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ctl_core.config import Workspace
from ctl_core.serving.catalogue import load_catalogue_inference
from ctl_core.serving.index import CategoryIndices


def main(a_root: str, b_root: str, method: str = "triplet-category") -> int:
    a, b = Workspace.at(a_root), Workspace.at(b_root)
    pa, ea, ma = load_catalogue_inference(a, method)
    pb, eb, mb = load_catalogue_inference(b, method)
    same_products = pa["product_id"].tolist() == pb["product_id"].tolist()
    same_cats = same_products and pa["pred_category"].tolist() == pb["pred_category"].tolist()
    ia, ib = CategoryIndices.load(a, method), CategoryIndices.load(b, method)
    same_ids = ia.categories == ib.categories and all(list(ia.ids[c]) == list(ib.ids[c]) for c in ia.categories)
    print(f"products: {len(pa)} vs {len(pb)}, same order: {same_products}; predicted categories same: {same_cats}")
    print(f"engines: {ma.get('engine', 'local')} vs {mb.get('engine', 'local')}; person detector: "
          f"{ma.get('person_detector')} vs {mb.get('person_detector')}")
    if same_products:
        shot = np.abs(pa["product_shot_score"].to_numpy() - pb["product_shot_score"].to_numpy()).max()
        print(f"max |embedding diff| {float(np.abs(ea - eb).max()):.2e}, max |product-shot diff| {float(shot):.2e}")
    print(f"indexed: {sum(ia.count(c) for c in ia.categories)} vs {sum(ib.count(c) for c in ib.categories)}; "
          f"same ids in every category: {same_ids}")
    if same_ids:
        diff = max((float(np.abs(ia.vectors(c, np.arange(ia.count(c))) - ib.vectors(c, np.arange(ib.count(c)))).max())
                    for c in ia.categories if ia.count(c)), default=0.0)
        print(f"max |index vector diff| {diff:.2e}")
    else:
        for c in sorted(set(ia.categories) | set(ib.categories)):
            x, y = set(ia.ids.get(c, [])), set(ib.ids.get(c, []))
            if x != y:
                print(f"  {c}: only in A {sorted(x - y)[:5]}, only in B {sorted(y - x)[:5]}")
    return 0 if same_products and same_cats and same_ids else 1


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:4]))
