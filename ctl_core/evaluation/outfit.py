"""Scoring the outfit model (ctl_core.model.outfit) on the Table-4 protocol, and compatibility for every method.

The outfit model is not an embedding: a candidate's score depends on the question it completes. So:
- FITB: one query vector per question (the question's items + a MASK token of the candidates' category), the
  candidate with the highest score wins (the pairwise methods' lowest distance sum, mirrored);
- Recall@K: the query is one item; each corpus item is scored with the query vector for ITS category (one
  forward pass per (query, category)), ranked by descending score;
- compatibility: the model's outfit logit (pairwise methods: ``table4.embedding_compat_scores``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ctl_core.data.categories import CATEGORY_INDEX, NUM_CATEGORIES
from ctl_core.evaluation.metrics import compat_auc, fitb_accuracy, recall_at_k
from ctl_core.evaluation.protocol import CompatQuestions, FitbQuestions, Protocol, RecallCorpora
from ctl_core.model.outfit import OutfitTransformer


class OutfitScorer:
    """The outfit model over a fixed set of items (features and categories aligned with the protocol's rows)."""

    def __init__(self, model: OutfitTransformer, features: np.ndarray, categories: Sequence, batch: int = 2048):
        self.model = model.eval()
        self.feats = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        cats = np.asarray(categories)
        if cats.dtype.kind in "OUS":
            cats = np.array([CATEGORY_INDEX[str(c)] for c in cats])
        self.cats = torch.as_tensor(cats.astype(np.int64))
        self.batch = batch
        with torch.no_grad():
            self.keys = torch.cat([model.keys(self.feats[s:s + 8192]) for s in range(0, len(self.feats), 8192)]) \
                if len(self.feats) else torch.empty(0, model.config.embed_dim)

    @torch.no_grad()
    def queries(self, rows: np.ndarray, target_cats: np.ndarray) -> torch.Tensor:
        """(B, embed) query vectors for contexts ``rows`` (B, M; -1 padding) and wanted categories (B,)."""
        out = []
        for s in range(0, len(rows), self.batch):
            r = torch.as_tensor(np.array(rows[s:s + self.batch]))
            safe = r.clamp_min(0)
            out.append(self.model.query(self.feats[safe], self.cats[safe], r >= 0,
                                        torch.as_tensor(target_cats[s:s + self.batch])))
        return torch.cat(out) if out else torch.empty(0, self.model.config.embed_dim)

    def fitb_scores(self, fitb: FitbQuestions) -> np.ndarray:
        """(Q, C) scores, higher = better completion."""
        if not len(fitb.correct):
            return np.zeros(fitb.candidates.shape)
        q = self.queries(fitb.questions, self.cats[torch.as_tensor(fitb.candidates[:, 0])].numpy())
        k = self.keys[torch.as_tensor(fitb.candidates)]
        return torch.einsum("bd,bcd->bc", q, k).numpy()

    def fitb(self, fitb: FitbQuestions) -> float:
        return fitb_accuracy(-self.fitb_scores(fitb), fitb.correct) if len(fitb.correct) else float("nan")

    def corpus_scores(self, corp: RecallCorpora) -> np.ndarray:
        """(Q, N) scores of each corpus item for its query (-inf on padding)."""
        present = np.unique(self.cats[torch.as_tensor(np.maximum(corp.corpus, 0))].numpy())
        q_rows = np.repeat(corp.queries[:, None], len(present), axis=0)
        q_cats = np.tile(present, len(corp.queries))
        qv = self.queries(q_rows, q_cats).reshape(len(corp.queries), len(present), -1)
        slot = np.full(NUM_CATEGORIES, -1)
        slot[present] = np.arange(len(present))
        safe = np.maximum(corp.corpus, 0)
        cat_slot = torch.as_tensor(slot[self.cats[torch.as_tensor(safe)].numpy()])
        per_item_q = torch.gather(qv, 1, cat_slot[:, :, None].expand(-1, -1, qv.shape[-1]))
        s = (per_item_q * self.keys[torch.as_tensor(safe)]).sum(-1).numpy()
        return np.where(corp.corpus >= 0, s, -np.inf)

    @torch.no_grad()
    def compat_scores(self, compat: CompatQuestions) -> np.ndarray:
        out = []
        for s in range(0, len(compat.outfits), self.batch):
            r = torch.as_tensor(compat.outfits[s:s + self.batch])
            safe = r.clamp_min(0)
            out.append(self.model.compatibility(self.feats[safe], self.cats[safe], r >= 0))
        return torch.cat(out).numpy() if out else np.zeros(0)

    def compat_auc(self, compat: CompatQuestions) -> float:
        return compat_auc(self.compat_scores(compat), compat.labels)

    def score_protocol(self, protocol: Protocol, compat: CompatQuestions | None = None) -> dict:
        """The figures ``table4.score_protocol`` gives for an embedding, for the outfit model."""
        cfg, out = protocol.config, {}
        s = self.corpus_scores(protocol.all_categories)
        for k in cfg.ks:
            out[f"R@{k}"] = recall_at_k(-s, protocol.all_categories.positive, k)
        per_cat = {}
        for cat, corp in protocol.per_category.items():
            sc = self.corpus_scores(corp)
            per_cat[cat] = {**{f"R@{k}": recall_at_k(-sc, corp.positive, k) for k in cfg.ks},
                            "n_queries": int(len(corp.queries))}
        for k in cfg.ks:
            vals = [r[f"R@{k}"] for r in per_cat.values()]
            out[f"R@{k}_cat"] = float(np.mean(vals)) if vals else float("nan")
        out["FITB"] = self.fitb(protocol.fitb)
        out.update({"n_queries": int(len(protocol.all_categories.queries)), "n_outfits": int(protocol.n_outfits),
                    "n_fitb": int(len(protocol.fitb.correct)), "n_fitb_skipped": int(protocol.fitb_skipped),
                    "per_category": per_cat, "protocol_note": protocol.note})
        if compat is not None:
            out["compat_AUC"] = self.compat_auc(compat)
            out["n_compat"] = int(len(compat.labels))
        return out
