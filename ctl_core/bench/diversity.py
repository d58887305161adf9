"""What diversity within a category row costs: held-out outfit-mates found in the rows, with and without it.

``diversity_cost(ws, method, weights)``: every test-split outfit item that is a catalogue product with an
embedding is a query; each of its outfit-mates whose (shop) category the recommender serves for it is a target.
Row recall@k = the share of targets found in their category's row of ``k`` — the serving form of Table 4's
per-category R@K, on outfits the model never trained on. Redundancy: the mean, over rows, of the largest backbone
cosine between two items of a row (how alike the row's images are), and the share of rows holding a pair above
``alike`` (look-alikes: the "six black sandals"). Fill-in-the-blank does not move by construction: MMR never
changes a row's first item, and FITB asks for one. ``scripts/diversity_cost.py`` prints the table.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ctl_core.config import Workspace
from ctl_core.data.tables import read_items
from ctl_core.progress import Progress


@dataclass
class DiversityRow:
    row_diversity: float
    queries: int
    targets: int
    row_recall: float
    mean_max_cosine: float
    rows_with_lookalikes: float
    ms_per_query: float


def diversity_cost(ws: Workspace, method: str, weights=(0.0, 0.05, 0.1, 0.2), k: int = 6, alike: float = 0.9,
                   max_queries: int | None = None, seed: int = 0, recommender=None,
                   progress: Progress | None = None) -> list[DiversityRow]:
    from ctl_core.serving.recommender import BlendConfig, Recommender

    rec = recommender or Recommender(ws, method)
    items = read_items(ws.items_csv)
    test = items[(items["split"] == "test") & (items["product_id"] != "")]
    mates = test.groupby("outfit_id")["product_id"].apply(list).to_dict()
    queries = [(pid, o) for o, pids in mates.items() for pid in pids if pid in rec._row]
    if max_queries is not None and max_queries < len(queries):
        pick = np.random.default_rng(seed).choice(len(queries), max_queries, replace=False)
        queries = [queries[i] for i in sorted(pick)]
    out = []
    for w in weights:
        bc = BlendConfig(row_diversity=w, per_category_k=k)
        hits = targets = rows = alike_rows = 0
        max_cos: list[float] = []
        t0 = time.perf_counter()
        for j, (pid, outfit) in enumerate(queries):
            r = rec.recommend(item_id=pid, k=k, blend=bc)
            for cat, lst in r.per_category.items():
                ids = [x.item_id for x in lst]
                for m in mates[outfit]:
                    if m != pid and rec._info.get(m, {}).get("category") == cat:
                        targets += 1
                        hits += m in ids
                looks = rec._looks_of(ids) if len(ids) > 1 else None
                if looks is not None:
                    sim = looks @ looks.T
                    np.fill_diagonal(sim, -1.0)
                    rows += 1
                    max_cos.append(float(sim.max()))
                    alike_rows += bool(sim.max() > alike)
            if progress:
                progress(f"row diversity {w}", j + 1, len(queries))
        ms = (time.perf_counter() - t0) * 1e3 / max(len(queries), 1)
        out.append(DiversityRow(w, len(queries), targets, hits / max(targets, 1),
                                float(np.mean(max_cos)) if max_cos else float("nan"), alike_rows / max(rows, 1), ms))
    return out


def format_diversity(rows: list[DiversityRow], k: int) -> str:
    lines = [f"| row_diversity | row recall@{k} | mean max cosine in a row | rows with look-alikes | ms/query |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.row_diversity:g} | {100 * r.row_recall:.1f} | {r.mean_max_cosine:.3f} | "
              f"{100 * r.rows_with_lookalikes:.1f}% | {r.ms_per_query:.1f} |" for r in rows]
    if rows:
        lines.append(f"({rows[0].queries:,} queries, {rows[0].targets:,} outfit-mates as targets)")
    return "\n".join(lines)
