"""Pure evaluation metrics over NumPy arrays: Recall@K, FITB accuracy, category accuracy, compatibility AUC,
Euclidean distance.

No workspace, no protocol, no torch: the scene-based baseline scores its own protocol with these too.
"""
from __future__ import annotations

import numpy as np


def recall_at_k(distances: np.ndarray, is_positive: np.ndarray, k: int) -> float:
    """Mean over queries of (positives in the k nearest by ascending distance) / min(#positives, k)."""
    d = np.asarray(distances, dtype=np.float64)
    pos = np.asarray(is_positive, dtype=bool)
    if d.shape != pos.shape or d.ndim != 2:
        raise ValueError(f"distances and is_positive must be (Q, N) of one shape, got {d.shape} and {pos.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n_pos = pos.sum(axis=1)
    keep = n_pos > 0
    if not keep.any():
        return float("nan")
    d, pos, n_pos = d[keep], pos[keep], n_pos[keep]
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(pos, order, axis=1).sum(axis=1)
    return float(np.mean(hits / np.minimum(n_pos, k)))


def fitb_accuracy(dist_sums: np.ndarray, correct_index: np.ndarray) -> float:
    """Share of questions whose lowest-scoring candidate is the correct one."""
    s = np.asarray(dist_sums, dtype=np.float64)
    c = np.asarray(correct_index)
    if s.ndim != 2 or c.shape != (s.shape[0],):
        raise ValueError(f"dist_sums must be (Q, C) and correct_index (Q,), got {s.shape} and {c.shape}")
    if len(c) == 0:
        return float("nan")
    return float(np.mean(np.argmin(s, axis=1) == c))


def category_accuracy(logits_or_pred: np.ndarray, labels: np.ndarray) -> float:
    """Share of items whose predicted category (argmax of (B, C) logits, or (B,) indices) equals the label."""
    p = np.asarray(logits_or_pred)
    y = np.asarray(labels)
    pred = p.argmax(axis=1) if p.ndim == 2 else p
    if pred.shape != y.shape:
        raise ValueError(f"predictions {pred.shape} and labels {y.shape} differ in length")
    if len(y) == 0:
        return float("nan")
    return float(np.mean(pred == y))


def compat_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (higher = more compatible) for binary ``labels``; ties count half."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be (N,) of one shape, got {s.shape} and {y.shape}")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata  # Mann-Whitney U from mid-ranks

    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` (..., d) and ``b`` (..., d), broadcast."""
    return np.sqrt(np.maximum(((a - b) ** 2).sum(axis=-1), 0.0))

