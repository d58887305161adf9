"""Fill-in-the-blank questions you bring, by product id, scored on the catalogue embeddings of each method.

A FITB file is a JSON list of ``{"question": [product_id, ...], "answers": [product_id, ...], "correct": 0}``:
the question's products are an outfit with one item left out, the answers the candidates for the blank (the
left-out item at index ``correct``). A candidate's score is the sum of its Euclidean distances to the question's
products (the lowest wins), as in our own FITB (``table4.fitb_distance_sums``).

Products are looked up among the catalogue embeddings of every imported product (``catalogue/<method>/``, written
by ``index``), not among the cleaned outfit items, so a question is scored whatever cleanup kept. A question that
names a product the catalogue does not hold is skipped and counted (dropping an answer would make it easier,
dropping a question product would change it); a malformed question is counted apart. Accuracy comes with a 95%
Wilson interval (statsmodels' ``proportion_confint``) over the questions scored.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from ctl_core.evaluation.metrics import euclidean
from ctl_core.evaluation.protocol import EvalConfig, EvaluationError, build_protocol, select_test_items
from ctl_core.io import read_json

CONFIDENCE = 0.95


class FitbFileError(EvaluationError):
    """A FITB file that cannot be read as a list of questions (the message names the file and the fix)."""


def read_fitb_file(path: str | Path) -> list:
    """The list of questions in ``path``; ``FitbFileError`` when it is not readable JSON holding a list."""
    return read_json(path, "FITB file", expect=list, error=FitbFileError,
                     fix='expected a JSON list of {"question": [...], "answers": [...], "correct": 0}')


def question_problem(q: object) -> str | None:
    """Why ``q`` is not a usable question, or None."""
    if not isinstance(q, Mapping):
        return "not an object"
    qs, ans, c = q.get("question"), q.get("answers"), q.get("correct", 0)
    if not isinstance(qs, list) or not qs or not isinstance(ans, list) or len(ans) < 2:
        return "needs a non-empty 'question' list and at least two 'answers'"
    if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < len(ans):
        return f"'correct' must be an index into the {len(ans)} answers, got {c!r}"
    return None


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion (NaN, NaN when ``n`` is 0)."""
    if n == 0:
        return float("nan"), float("nan")
    lo, hi = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return float(lo), float(hi)


def score_fitb_products(questions: Sequence, lookup: Mapping[str, np.ndarray]) -> dict:
    """Accuracy of the questions over ``lookup`` (product id -> embedding), with counts and a 95% interval.

    Returns ``accuracy`` (NaN when none was scored), ``n_scored``, ``n_correct``, ``n_skipped`` (a product not in
    ``lookup``), ``n_malformed``, ``ci_low``/``ci_high``, ``n_questions`` and up to five ``unknown_examples``.
    """
    n_correct = n_scored = n_skipped = n_malformed = 0
    unknown: list[str] = []
    for q in questions:
        if question_problem(q):
            n_malformed += 1
            continue
        qi, ans = [str(i) for i in q["question"]], [str(a) for a in q["answers"]]
        missing = [i for i in qi + ans if i not in lookup]
        if missing:
            n_skipped += 1
            unknown.extend(m for m in missing if m not in unknown and len(unknown) < 5)
            continue
        qv = np.stack([lookup[i] for i in qi]).astype(np.float64)
        av = np.stack([lookup[a] for a in ans]).astype(np.float64)
        sums = euclidean(av[:, None, :], qv[None, :, :]).sum(axis=1)
        n_scored += 1
        n_correct += int(np.argmin(sums) == int(q.get("correct", 0)))
    lo, hi = wilson_interval(n_correct, n_scored)
    return {"accuracy": n_correct / n_scored if n_scored else float("nan"), "n_scored": n_scored,
            "n_correct": n_correct, "n_skipped": n_skipped, "n_malformed": n_malformed, "ci_low": lo,
            "ci_high": hi, "n_questions": len(questions), "unknown_examples": unknown}


def format_fitb_results(results: Mapping[str, Mapping], path: str | Path = "") -> str:
    """One line per method: accuracy, its 95% interval and the counts."""
    lines = [f"FITB on {path}" if path else "FITB"]
    w = max((len(m) for m in results), default=6)
    for m, r in results.items():
        acc = "n/a" if r["n_scored"] == 0 else f"{r['accuracy'] * 100:5.1f}%"
        ci = "" if r["n_scored"] == 0 else f"  [95% CI {r['ci_low'] * 100:.1f}-{r['ci_high'] * 100:.1f}]"
        lines.append(f"  {m:<{w}}  {acc}{ci}  n={r['n_scored']} scored, {r['n_skipped']} skipped "
                     f"(unknown product), {r['n_malformed']} malformed")
    first = next(iter(results.values()), None)
    if first and first["unknown_examples"]:
        lines.append("  unknown products, e.g. " + ", ".join(first["unknown_examples"]))
    return "\n".join(lines)


def make_fitb_questions(ws, seed: int = 0, config: EvalConfig | None = None) -> list[dict]:
    """The Table-4 protocol's FITB questions of ``ws``'s test split (``build_protocol``, seeded), by product id.

    The same draw ``evaluate`` scores (same seed, same questions), written out so that ``evaluate --fitb`` can
    score it on the catalogue embeddings, or anyone can rerun it: ``evaluate --make-fitb FILE --seed S``. A
    question whose items lack a product id (a collage crop that matched no catalogue product), or whose answers name
    one product twice (two test items showing it: by product id the question would be ambiguous), is left out.
    """
    from ctl_core.data.tables import read_items  # lazy, as below: the scoring above stays pure

    config = EvalConfig(seed=seed) if config is None else config
    test = select_test_items(read_items(ws.items_csv)).reset_index(drop=True)
    pids = test["product_id"].fillna("").astype(str).to_numpy() if "product_id" in test.columns else None
    if pids is None:
        raise EvaluationError(f"{ws.items_csv} has no product_id column: its items cannot be asked by product id")
    fitb = build_protocol(test, config).fitb
    out = []
    for q, cands, correct in zip(fitb.questions, fitb.candidates, fitb.correct):
        question = [pids[i] for i in q if i >= 0]
        answers = [pids[i] for i in cands]
        if all(question) and all(answers) and len(set(answers)) == len(answers):
            out.append({"question": question, "answers": answers, "correct": int(correct),
                        "source": f"table4-protocol seed {config.seed}"})
    return out


def write_fitb_file(questions: Sequence[Mapping], path: str | Path) -> Path:
    """Write questions as a FITB file (a JSON list, one question a line), atomically."""
    import json

    from ctl_core.io import atomic_write_text
    atomic_write_text(path, "[\n" + ",\n".join(json.dumps(q) for q in questions) + "\n]\n")
    return Path(path)


def evaluate_fitb_file(ws, path: str | Path, methods: Sequence[str] | None = None) -> dict[str, dict]:
    """``{method: score_fitb_products(...)}`` of the questions in ``path`` on each method's catalogue embeddings.

    ``methods`` None: every trained run. A method without catalogue inference raises (``CatalogueError``, whose
    message says to run ``index``). Glue, not scoring: the one place here that reads the workspace.
    """
    from ctl_core.serving.catalogue import load_catalogue_inference  # lazy: the scoring above stays pure

    questions = read_fitb_file(path)
    methods = list(methods) if methods is not None else ws.trained_methods()
    if not methods:
        raise EvaluationError("no trained model to score: train one first (python -m ctl_core build)")
    out: dict[str, dict] = {}
    for m in methods:
        preds, emb, _ = load_catalogue_inference(ws, m)
        out[m] = score_fitb_products(questions, dict(zip(preds["product_id"], emb)))
    return out
