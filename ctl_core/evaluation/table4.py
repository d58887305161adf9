"""Table 4 (paper sec. 6.1): score every trained run and the baselines on one protocol, and write and read the table.

``evaluate_all`` draws the protocol once (``protocol.build_protocol``), scores the "random" and "visual" baselines
and every trained run on it (plus the imported FITB questions, when there are any), writes ``eval/table.csv`` and
``eval/table.json`` and merges each run's figures into its ``metrics.json``. ``read_table4`` and
``read_run_metrics`` read those files back (for the pages); ``format_table`` renders the table as Markdown.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from ctl_core.config import (
    DEFAULT_BACKBONE,
    METHODS,
    OUTFIT_METHOD,
    RERANK_CANDIDATES,
    RERANK_PAIRWISE_WEIGHT,
    RERANKED_SUFFIX,
    Workspace,
)
from ctl_core.data.categories import CATEGORY_INDEX
from ctl_core.data.tables import read_items
from ctl_core.evaluation.metrics import category_accuracy, compat_auc, euclidean, fitb_accuracy, recall_at_k
from ctl_core.evaluation.protocol import (
    CompatQuestions,
    EvalConfig,
    EvaluationError,
    FitbQuestions,
    Protocol,
    RecallCorpora,
    build_compat_questions,
    build_protocol,
    popular_fitb,
    product_popularity,
    select_test_items,
)
from ctl_core.io import atomic_path, atomic_write_json
from ctl_core.progress import Progress

TABLE_COLUMNS: list[str] = ["method", "R@1", "R@5", "R@10", "R@1_cat", "R@5_cat", "R@10_cat", "FITB",
                            "category_acc"]
BASELINES: tuple[str, ...] = ("random", "visual")
# The served pipeline's row beside the outfit model's: this method's ANN ranking re-ordered by the outfit model
# (its top RERANK_CANDIDATES, fused as serving.rerank.RerankConfig does by default), named as studies name it.
RERANK_BASE = "triplet-category"
# The n behind each figure, in its own column beside the figures it counts: test outfits for R@K (both corpus
# modes use the same outfits), questions for FITB, test items for category accuracy.
N_COLUMNS: dict[str, str] = {"R@K": "n_R@K", "FITB": "n_FITB", "category_acc": "n_category_acc",
                             "compat_AUC": "n_compat", "FITB_external": "n_FITB_external"}


def table_columns(external: bool = False) -> list[str]:
    """The columns of eval/table.csv in order: each metric group followed by its n."""
    cols = ["method", "R@1", "R@5", "R@10", "R@1_cat", "R@5_cat", "R@10_cat", N_COLUMNS["R@K"],
            "FITB", "FITB_pop", N_COLUMNS["FITB"], "compat_AUC", N_COLUMNS["compat_AUC"], "category_acc",
            N_COLUMNS["category_acc"]]
    if external:
        cols += ["FITB_external", N_COLUMNS["FITB_external"], "n_FITB_external_skipped"]
    return cols


# The paper's Table 4, in PERCENT as printed (our tables hold fractions; format_table converts).
# Only the best row's figures are recorded here; the other methods' rows exist in the paper but are not reproduced.
# The paper does not say in the text we rely on which corpus mode its R@K uses; we file them under the
# all-category columns.
PAPER_TABLE4: dict[str, dict[str, float]] = {
    "triplet-category": {"R@1": 20.3, "R@5": 51.4, "R@10": 68.8, "FITB": 78.5, "category_acc": 98.15},
}


# ------------------------------------------------------------------------------------------------- scoring

def _corpus_distances(emb: np.ndarray, corp: RecallCorpora, batch: int) -> np.ndarray:
    """(Q, N) distances from each query to its corpus, +inf on padding."""
    out = np.empty(corp.corpus.shape, dtype=np.float64)
    for s in range(0, len(corp.queries), batch):
        c = corp.corpus[s:s + batch]
        d = euclidean(emb[corp.queries[s:s + batch]][:, None, :], emb[np.maximum(c, 0)])
        out[s:s + batch] = np.where(c >= 0, d, np.inf)
    return out


def fitb_distance_sums(emb: np.ndarray, fitb: FitbQuestions, batch: int = 512) -> np.ndarray:
    """(Q, C) sum of Euclidean distances from each candidate to the question items (padding ignored)."""
    out = np.empty(fitb.candidates.shape, dtype=np.float64)
    for s in range(0, len(fitb.correct), batch):
        q = fitb.questions[s:s + batch]
        d = euclidean(emb[fitb.candidates[s:s + batch]][:, :, None, :], emb[np.maximum(q, 0)][:, None, :, :])
        out[s:s + batch] = np.where((q >= 0)[:, None, :], d, 0.0).sum(axis=2)
    return out


def embedding_compat_scores(emb: np.ndarray, compat: CompatQuestions) -> np.ndarray:
    """Outfit scores of a pairwise style embedding: minus the mean pairwise Euclidean distance of the items."""
    emb = np.asarray(emb, dtype=np.float32)
    out = np.empty(len(compat.outfits))
    for s in range(0, len(out), 128):
        r = compat.outfits[s:s + 128]
        e = emb[np.maximum(r, 0)]
        d = euclidean(e[:, :, None, :], e[:, None, :, :])
        valid = (r >= 0)[:, :, None] & (r >= 0)[:, None, :]
        valid &= ~np.eye(r.shape[1], dtype=bool)[None]
        out[s:s + 128] = -(np.where(valid, d, 0.0).sum((1, 2)) / np.maximum(valid.sum((1, 2)), 1))
    return out


def embedding_compat_auc(emb: np.ndarray, compat: CompatQuestions) -> float:
    return compat_auc(embedding_compat_scores(emb, compat), compat.labels)


def score_protocol(emb: np.ndarray, protocol: Protocol) -> dict:
    """Recall@K (both modes), FITB and counts of embeddings ``emb`` (rows aligned with the protocol's items)."""
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2 or len(emb) != protocol.n_items:
        raise ValueError(f"emb must be ({protocol.n_items}, d), got {emb.shape}")
    cfg = protocol.config
    out: dict = {}
    d = _corpus_distances(emb, protocol.all_categories, cfg.batch_size)
    for k in cfg.ks:
        out[f"R@{k}"] = recall_at_k(d, protocol.all_categories.positive, k)
    per_cat: dict[str, dict] = {}
    for cat, corp in protocol.per_category.items():
        dc = _corpus_distances(emb, corp, cfg.batch_size)
        row = {f"R@{k}": recall_at_k(dc, corp.positive, k) for k in cfg.ks}
        row["n_queries"] = int(len(corp.queries))
        row["mean_corpus_size"] = float((corp.corpus >= 0).sum(axis=1).mean())
        per_cat[cat] = row
    for k in cfg.ks:
        vals = [r[f"R@{k}"] for r in per_cat.values()]
        out[f"R@{k}_cat"] = float(np.mean(vals)) if vals else float("nan")
    out["FITB"] = fitb_accuracy(fitb_distance_sums(emb, protocol.fitb, cfg.batch_size), protocol.fitb.correct) \
        if len(protocol.fitb.correct) else float("nan")
    out["n_queries"] = int(len(protocol.all_categories.queries))
    out["n_outfits"] = int(protocol.n_outfits)
    out["mean_corpus_size"] = float((protocol.all_categories.corpus >= 0).sum(axis=1).mean())
    out["n_fitb"] = int(len(protocol.fitb.correct))
    out["n_fitb_skipped"] = int(protocol.fitb_skipped)
    out["per_category"] = per_cat
    out["protocol_note"] = protocol.note
    return out


def evaluate_embeddings(emb: np.ndarray, items_df: pd.DataFrame, config: EvalConfig = EvalConfig()) -> dict:
    """Recall@K (all-category and per-category mean), FITB and counts over the test-split rows of ``items_df``.

    ``emb`` (N, d) is aligned with the rows of ``items_df``; rows whose split is not "test" are ignored.
    """
    emb = np.asarray(emb)
    if len(emb) != len(items_df):
        raise ValueError(f"emb has {len(emb)} rows but items_df has {len(items_df)}")
    mask = (items_df["split"].astype(str) == "test").to_numpy() if "split" in items_df.columns \
        else np.ones(len(items_df), dtype=bool)
    test = select_test_items(items_df)
    return score_protocol(emb[mask], build_protocol(test, config))


# ------------------------------------------------------------------------------------------- external FITB

def load_fitb_questions(ws: Workspace) -> list[dict]:
    """The imported FITB questions in ``ws.fitb_json`` ([] when there are none)."""
    if not ws.fitb_json.exists():
        return []
    data = json.loads(ws.fitb_json.read_text())
    if not isinstance(data, list):
        raise EvaluationError(f"{ws.fitb_json} must hold a JSON list of questions")
    return data


def fitb_external(questions: Sequence[Mapping], lookup: Mapping[str, np.ndarray]) -> dict:
    """FITB accuracy on supplied questions ({"question", "answers", "correct"}) with item_id -> embedding.

    Unmatched question items are dropped; a question is skipped when none of its question items, or any of its
    answers, has an embedding (dropping an answer would make the question easier). Both are counted.
    """
    sums, correct = [], []
    unmatched_items, skipped = 0, 0
    for q in questions:
        qi = [str(i) for i in q.get("question", [])]
        ans = [str(i) for i in q.get("answers", [])]
        known_q = [lookup[i] for i in qi if i in lookup]
        missing_a = sum(1 for a in ans if a not in lookup)
        unmatched_items += (len(qi) - len(known_q)) + missing_a
        c = int(q.get("correct", 0))
        if not known_q or missing_a or len(ans) < 2 or not 0 <= c < len(ans):
            skipped += 1
            continue
        qv = np.stack(known_q).astype(np.float64)
        av = np.stack([lookup[a] for a in ans]).astype(np.float64)
        sums.append(euclidean(av[:, None, :], qv[None, :, :]).sum(axis=1))
        correct.append(c)
    if not sums:
        acc = float("nan")
    else:
        width = max(len(s) for s in sums)   # answers may differ in number: pad with +inf (never chosen)
        mat = np.full((len(sums), width), np.inf)
        for i, s in enumerate(sums):
            mat[i, :len(s)] = s
        acc = fitb_accuracy(mat, np.asarray(correct))
    return {"FITB_external": acc, "n_fitb_external": len(correct), "n_fitb_external_skipped": skipped,
            "n_unmatched_items": unmatched_items}


# ---------------------------------------------------------------------------------------- model glue (lazy)

def _model_outputs(ws: Workspace, method: str, items: pd.DataFrame,
                   progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Style embeddings (N, 128) and category logits (N, 21) of a trained run over cached backbone features.

    The one place that touches ctl_core.model.backbone/features/model (integration glue; tests replace it).
    """
    # Lazy: torch and ctl_core.model load only when a run is scored, so the metrics and the protocol (the scene
    # baseline, the pages' readers) import without torch.
    import torch

    from ctl_core.model.ctl_model import load_model
    from ctl_core.model.features import cached_features, item_sources

    model = load_model(ws, method)
    feats = cached_features(ws, model.backbone, item_sources(items), device="auto", progress=progress)
    heads = model.heads.eval()
    device = next(heads.parameters()).device
    codes = None
    if heads.uses_metadata:  # the style head's side input: each item's product metadata from the catalogue
        from ctl_core.data.metadata import product_metadata
        codes = heads.metadata_codes(product_metadata(ws, items["product_id"], heads.config.metadata.fields))
    embs, logits = [], []
    with torch.no_grad():
        for s in range(0, len(feats), 4096):
            x = torch.from_numpy(np.ascontiguousarray(feats[s:s + 4096], dtype=np.float32)).to(device)
            embs.append(heads.embed(x, None if codes is None else codes[s:s + 4096]).float().cpu().numpy())
            logits.append(heads.classify(x).float().cpu().numpy())
    return np.concatenate(embs), np.concatenate(logits)


def _backbone_features(ws: Workspace, backbone_name: str, items: pd.DataFrame,
                       progress: Progress | None = None) -> np.ndarray:
    """The backbone's own pooled features (N, D) of ``items`` (the "visual" baseline; cached)."""
    # Lazy, as in _model_outputs: ctl_core.model loads torch.
    from ctl_core.model.backbone import create_backbone
    from ctl_core.model.features import cached_features, item_sources

    return cached_features(ws, create_backbone(backbone_name), item_sources(items), device="auto",
                           progress=progress)


# ------------------------------------------------------------------------------------------ Table 4

def _run_backbone(ws: Workspace, method: str) -> str | None:
    """The backbone a run was trained on (its config.json), or None when unknown."""
    cfg = ws.run_config_path(method)
    try:
        return json.loads(cfg.read_text()).get("backbone") if cfg.exists() else None
    except (OSError, json.JSONDecodeError):
        return None


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def evaluate_all(ws: Workspace, methods: Sequence[str] | None = None, config: EvalConfig = EvalConfig(),
                 progress: Progress | None = None, backbone_name: str | None = None,
                 baselines: bool = True) -> pd.DataFrame:
    """Table 4: every trained run (or ``methods``) plus the "random" and "visual" baselines on one protocol, and
    the outfit model (``OUTFIT_METHOD``) when it is trained and ``methods`` is None or names it.

    Writes ``ws.eval_dir``/table.csv and table.json, and merges each run's metrics into its metrics.json.
    Metrics are fractions in [0, 1]; ``category_acc`` is NaN for baselines.
    """
    items = select_test_items(read_items(ws.items_csv)).reset_index(drop=True)
    if methods is None:
        methods = ws.trained_methods() + ([OUTFIT_METHOD] if ws.outfit_weights_path.exists() else [])
    methods = list(methods)
    for m in methods:
        if m == OUTFIT_METHOD:
            if not ws.outfit_weights_path.exists():
                raise EvaluationError(f"no trained outfit model (missing {ws.outfit_weights_path}); train it first "
                                      f"(python -m ctl_core train --method {OUTFIT_METHOD})")
            continue
        if not ws.heads_path(m).exists():
            raise EvaluationError(f"no trained run for {m!r} (missing {ws.heads_path(m)}); "
                                  f"train it first (python -m ctl_core train --method {m})")
    questions = load_fitb_questions(ws)
    ext_ids = {str(i) for q in questions for i in [*q.get("question", []), *q.get("answers", [])]}
    # Items the external questions refer to that are not test items (e.g. train-split rows) are embedded too.
    if ext_ids:
        all_items = read_items(ws.items_csv)
        extra = all_items[all_items["item_id"].isin(ext_ids) & ~all_items["item_id"].isin(items["item_id"])]
        emb_items = pd.concat([items, extra], ignore_index=True)
    else:
        emb_items = items
    n_test = len(items)
    protocol = build_protocol(items, config)
    compat = build_compat_questions(items, config.seed)
    pop_fitb = popular_fitb(items, protocol.fitb, product_popularity(read_items(ws.items_csv)), config.seed)
    labels = np.array([CATEGORY_INDEX[c] for c in items["category"]])
    names = [*(BASELINES if baselines else ()), *(m for m in methods if m != OUTFIT_METHOD),
             *(m for m in methods if m == OUTFIT_METHOD)]  # the outfit model last: its re-ranking row needs the base
    outfit_scorer = base_emb = base_row = None
    total = len(names)
    rows: list[dict] = []

    def score(name: str, emb: np.ndarray, logits: np.ndarray | None) -> dict:
        res = score_protocol(emb[:n_test], protocol)
        res["compat_AUC"] = embedding_compat_auc(emb[:n_test], compat)
        res["FITB_pop"] = fitb_accuracy(fitb_distance_sums(emb[:n_test], pop_fitb), pop_fitb.correct) \
            if len(pop_fitb.correct) else float("nan")
        res[N_COLUMNS["compat_AUC"]] = int(len(compat.labels))
        res["category_acc"] = category_accuracy(logits[:n_test], labels) if logits is not None else float("nan")
        res[N_COLUMNS["R@K"]], res[N_COLUMNS["FITB"]] = res["n_outfits"], res["n_fitb"]
        res[N_COLUMNS["category_acc"]] = n_test if logits is not None else float("nan")
        if questions:
            res.update(fitb_external(questions, dict(zip(emb_items["item_id"], emb))))
            res[N_COLUMNS["FITB_external"]] = res["n_fitb_external"]
            res["n_FITB_external_skipped"] = res["n_fitb_external_skipped"]
        res["method"] = name
        return res

    for done, name in enumerate(names):
        if progress:
            progress("evaluate", done, total)
        if name == "random":
            rng = np.random.default_rng(config.seed)
            rows.append(score(name, _unit(rng.standard_normal((len(emb_items), 128))), None))
        elif name == "visual":
            bb = backbone_name or next((b for b in (_run_backbone(ws, m) for m in methods) if b), DEFAULT_BACKBONE)
            res = score(name, _unit(_backbone_features(ws, bb, emb_items, progress)), None)
            res["backbone"] = bb
            rows.append(res)
        elif name == OUTFIT_METHOD:
            res, outfit_scorer = score_outfit_model(ws, items, protocol, compat, pop_fitb, progress)
            rows.append(res)
            _merge_metrics(ws, name, res, config)
        else:
            emb, logits = _model_outputs(ws, name, emb_items, progress)
            res = score(name, np.asarray(emb, dtype=np.float32), np.asarray(logits))
            if name == RERANK_BASE:
                base_emb, base_row = np.asarray(emb[:n_test], dtype=np.float32), res
            rows.append(res)
            _merge_metrics(ws, name, res, config)
    if outfit_scorer is not None and base_emb is not None:
        rows.append(rerank_row(base_emb, base_row, outfit_scorer, protocol, rows[-1], pop_fitb))
    if progress:
        progress("evaluate", total, total)

    columns = table_columns(external=bool(questions))
    df = pd.DataFrame([{c: r.get(c, float("nan")) for c in columns} for r in rows], columns=columns)
    with atomic_path(ws.eval_table_csv) as tmp:
        df.to_csv(tmp, index=False)
    atomic_write_json(ws.eval_table_json, {
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "protocol_note": protocol.note,
        "rows": rows,
        "paper": PAPER_TABLE4,
    })
    return df


def score_outfit_model(ws: Workspace, items: pd.DataFrame, protocol: Protocol, compat: CompatQuestions,
                       pop_fitb: FitbQuestions | None = None, progress: Progress | None = None) -> dict:
    """The outfit model's Table-4 row on ``protocol`` (its inputs: the cached features of its backbone)."""
    from ctl_core.evaluation.outfit import OutfitScorer
    from ctl_core.training.outfit import load_outfit_model  # lazy: torch

    model, cfg = load_outfit_model(ws)
    feats = _backbone_features(ws, cfg.get("backbone", DEFAULT_BACKBONE), items, progress)
    scorer = OutfitScorer(model, feats, items["category"].to_numpy())
    res = scorer.score_protocol(protocol, compat)
    if pop_fitb is not None:
        res["FITB_pop"] = scorer.fitb(pop_fitb)
    res.update({"method": OUTFIT_METHOD, "category_acc": float("nan"), N_COLUMNS["R@K"]: res["n_outfits"],
                N_COLUMNS["FITB"]: res["n_fitb"], N_COLUMNS["compat_AUC"]: res["n_compat"],
                N_COLUMNS["category_acc"]: float("nan")})
    return res, scorer


def rerank_row(base_emb: np.ndarray, base_row: dict, scorer, protocol: Protocol, outfit_row: dict,
               pop_fitb: FitbQuestions | None = None, candidates: int = RERANK_CANDIDATES,
               pairwise_weight: float = RERANK_PAIRWISE_WEIGHT) -> dict:
    """The served pipeline's row: ``RERANK_BASE``'s ranking with its top ``candidates`` re-ordered by the fused
    score of ``serving.rerank.fused_score`` (outfit model + ``pairwise_weight`` x pairwise distance; for FITB the
    pairwise term is the mean distance to the question's items). Compatibility is the outfit model's (the served
    pipeline ranks candidates, it does not score outfits); category accuracy is the base model's."""
    from ctl_core.serving.rerank import fused_score  # lazy: torch

    def reranked(corp: RecallCorpora) -> np.ndarray:
        d = _corpus_distances(base_emb, corp, protocol.config.batch_size)
        top = np.argsort(np.argsort(d, axis=1, kind="stable"), axis=1) < candidates
        fused = fused_score(scorer.corpus_scores(corp), d, pairwise_weight)
        return np.where(top, fused, 10.0 + d)  # the re-ordered top first, then the rest

    def fitb(q: FitbQuestions) -> float:
        mean_d = fitb_distance_sums(base_emb, q) / np.maximum((q.questions >= 0).sum(1, keepdims=True), 1)
        return fitb_accuracy(fused_score(scorer.fitb_scores(q), mean_d, pairwise_weight), q.correct)

    res = {k: outfit_row.get(k) for k in ("compat_AUC", N_COLUMNS["FITB"], N_COLUMNS["compat_AUC"])}
    res["FITB"] = fitb(protocol.fitb) if len(protocol.fitb.correct) else float("nan")
    res["FITB_pop"] = fitb(pop_fitb) if pop_fitb is not None and len(pop_fitb.correct) else float("nan")
    d_all = reranked(protocol.all_categories)
    for k in protocol.config.ks:
        res[f"R@{k}"] = recall_at_k(d_all, protocol.all_categories.positive, k)
    per_cat = {c: reranked(corp) for c, corp in protocol.per_category.items()}
    for k in protocol.config.ks:
        vals = [recall_at_k(per_cat[c], corp.positive, k) for c, corp in protocol.per_category.items()]
        res[f"R@{k}_cat"] = float(np.mean(vals)) if vals else float("nan")
    res.update({"method": f"{RERANK_BASE}{RERANKED_SUFFIX}", N_COLUMNS["R@K"]: outfit_row[N_COLUMNS["R@K"]],
                "category_acc": base_row["category_acc"],
                N_COLUMNS["category_acc"]: base_row[N_COLUMNS["category_acc"]],
                "rerank_candidates": candidates, "rerank_pairwise_weight": pairwise_weight})
    return res


def _merge_metrics(ws: Workspace, method: str, res: dict, config: EvalConfig) -> None:
    """Merge a run's Table-4 figures (top level) and the rest of its result ("eval") into its metrics.json."""
    existing = read_run_metrics(ws, method) or {}
    metric_keys = [c for c in table_columns(external=True) if c != "method"]
    existing.update({k: res[k] for k in metric_keys if k in res})
    existing["eval"] = {
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        **{k: v for k, v in res.items() if k not in metric_keys and k != "method"},
    }
    atomic_write_json(ws.metrics_path(method), existing)   # NaN -> null


# ------------------------------------------------------------------------------------------ readers

def read_table4(ws: Workspace) -> pd.DataFrame | None:
    """The Table-4 comparison (eval/table.csv, metrics as fractions) of the last evaluation, or None before one."""
    path = ws.eval_table_csv
    return pd.read_csv(path) if path.is_file() else None


def read_run_metrics(ws: Workspace, method: str) -> dict | None:
    """A run's metrics.json (training and offline figures), or None when it is missing or not a JSON object."""
    path = ws.metrics_path(method)
    if not path.is_file():
        return None
    try:
        loaded = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return loaded if isinstance(loaded, dict) else None


# ------------------------------------------------------------------------------------------ Markdown


def format_table(df: pd.DataFrame, paper: bool = True) -> str:
    """Markdown Table 4 (metrics as percentages, each group with its n), with the paper's figures as reference rows."""
    order = [*table_columns(external=True)]
    cols = [c for c in order if c in df.columns] + [c for c in df.columns if c not in order]
    metric_cols = [c for c in cols if c != "method"]
    counts = set(N_COLUMNS.values()) | {"n_FITB_external_skipped"}

    def cell(v: object, col: str) -> str:   # fractions -> percent; category accuracy with 2 decimals; n as is
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "n/a"
        if col in counts:
            return f"{int(v)}"
        return f"{float(v) * 100:.2f}" if col == "category_acc" else f"{float(v) * 100:.1f}"

    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join([str(r["method"]), *(cell(r[c], c) for c in metric_cols)]) + " |")
    if paper:
        for m, fig in PAPER_TABLE4.items():
            vals = [f"paper: {m}"]
            for c in metric_cols:
                v = fig.get(c)
                vals.append("n/r" if v is None else (f"{v:.2f}" if c == "category_acc" else f"{v:.1f}"))
            vals = [v if c not in counts else "" for c, v in zip(cols, vals)]
            lines.append("| " + " | ".join(vals) + " |")
        missing = [m for m in METHODS if m not in PAPER_TABLE4]
        lines.append("")
        lines.append("Percent; n: test outfits for R@K (both corpus modes), questions for FITB, test items for "
                     "category accuracy. n/a: not applicable (baselines have no category head); n/r: not reported "
                     "here. "
                     "Paper: Li et al., KDD 2020, Table 4 (best method only; rows for "
                     f"{', '.join(missing)} are in the paper but not reproduced here).")
    return "\n".join(lines)
