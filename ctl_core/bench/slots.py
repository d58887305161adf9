"""The slot rule on a served catalogue: does any recommendation list hold a product of the query's own slot?

``check_slots(ws, method)`` asks the recommender for every catalogue product that has an embedding (or a seeded
sample of ``n``) and checks every product it shows — the blended list and each per-category row — against the
query by the *shop's* categories (``catalogue.csv``): a result whose slot equals the query's (a sweater for a
sweater), or whose slot cannot be worn with it (a skirt for a dress), is a violation. It also counts the products
whose predicted category lies in another slot than the shop's: under indexing by predicted category (the paper's,
before ``category_source``) those were served in the wrong slot's rows. ``scripts/check_slots.py`` prints it.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from ctl_core.config import Workspace
from ctl_core.data.categories import CATEGORY_INDEX, SLOTS, slots_compatible
from ctl_core.data.tables import read_catalogue
from ctl_core.progress import Progress


@dataclass
class SlotReport:
    method: str
    queries: int = 0
    lists: int = 0              # blended lists + per-category rows checked
    results: int = 0            # products shown, over all lists
    same_slot: int = 0          # results of the query's own slot (by the shop's categories)
    incompatible: int = 0       # results of a slot that cannot be worn with the query's (one-piece vs top/bottom)
    examples: list[str] = field(default_factory=list)
    wrong_slot_predicted: int = 0   # indexed products whose predicted category is in another slot than the shop's
    wrong_slot_by_pair: dict[str, int] = field(default_factory=dict)  # "shop -> predicted" slot pairs, largest first
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        pairs = ", ".join(f"{k} {v}" for k, v in list(self.wrong_slot_by_pair.items())[:6])
        return (f"{self.method}: {self.queries:,} catalogue queries, {self.lists:,} lists, {self.results:,} products "
                f"shown: {self.same_slot} of the query's own slot, {self.incompatible} of an incompatible slot "
                f"(by the shop's categories; {self.seconds:.0f} s)\n"
                f"  products whose predicted category lies in another slot than the shop's (served in the wrong "
                f"slot's rows when indexed by prediction): {self.wrong_slot_predicted:,}" + (f" ({pairs})" if pairs
                                                                                               else ""))


def check_slots(ws: Workspace, method: str, n: int | None = None, k: int = 10, seed: int = 0,
                recommender=None, progress: Progress | None = None) -> SlotReport:
    """Recommend for ``n`` catalogue products (all when None) and count results of the query's own slot."""
    from ctl_core.serving.catalogue import load_catalogue_inference
    from ctl_core.serving.recommender import Recommender

    rec = recommender or Recommender(ws, method)
    cat = read_catalogue(ws.catalogue_csv).drop_duplicates("product_id")
    shop = {p: c for p, c in zip(cat["product_id"], cat["category"]) if c in CATEGORY_INDEX}
    preds, _, _ = load_catalogue_inference(ws, method)
    ids = [p for p in preds["product_id"] if p in shop]
    if n is not None and n < len(ids):
        ids = [ids[i] for i in sorted(np.random.default_rng(seed).choice(len(ids), n, replace=False))]
    report = SlotReport(method=method)
    t0 = time.perf_counter()
    for i, pid in enumerate(ids):
        out = rec.recommend(item_id=pid, k=k)
        q = shop[pid]
        report.queries += 1
        for lst in [out.results, *out.per_category.values()]:
            report.lists += 1
            for r in lst:
                report.results += 1
                c = shop.get(r.item_id, r.category)
                if SLOTS[c] == SLOTS[q]:
                    report.same_slot += 1
                elif not slots_compatible(q, c):
                    report.incompatible += 1
                else:
                    continue
                if len(report.examples) < 10:
                    report.examples.append(f"{pid} ({q}) -> {r.item_id} ({c})")
        if progress and ((i + 1) % 200 == 0 or i + 1 == len(ids)):
            progress("slot check", i + 1, len(ids))
    report.seconds = round(time.perf_counter() - t0, 1)
    pairs: Counter = Counter()
    for pid, pred in zip(preds["product_id"], preds["pred_category"]):
        if pid in shop and pred in CATEGORY_INDEX and SLOTS[pred] != SLOTS[shop[pid]]:
            pairs[f"{SLOTS[shop[pid]]} -> {SLOTS[pred]}"] += 1
    report.wrong_slot_predicted = int(sum(pairs.values()))
    report.wrong_slot_by_pair = dict(pairs.most_common())
    return report
