"""Offline evaluation (paper sec. 6.1): Recall@K and fill-in-the-blank (FITB), and the Table-4 comparison.

  metrics   pure metrics over arrays (recall_at_k, fitb_accuracy, category_accuracy, euclidean)
  protocol  the seeded draw of the Recall@K corpora and FITB questions (EvalConfig, build_protocol); its docstring
            writes down every choice of the protocol
  table4    scoring embeddings, trained runs and baselines on one protocol; eval/table.csv|json, metrics.json;
            their readers (read_table4, read_run_metrics) and the Markdown table (format_table)

Importing this package does not load torch (only scoring a trained run does).
"""
from ctl_core.evaluation.metrics import category_accuracy, euclidean, fitb_accuracy, recall_at_k
from ctl_core.evaluation.protocol import (
    EvalConfig,
    EvaluationError,
    FitbQuestions,
    Protocol,
    RecallCorpora,
    build_protocol,
    select_test_items,
)
from ctl_core.evaluation.table4 import (
    BASELINES,
    PAPER_TABLE4,
    TABLE_COLUMNS,
    evaluate_all,
    evaluate_embeddings,
    fitb_distance_sums,
    fitb_external,
    format_table,
    load_fitb_questions,
    read_run_metrics,
    read_table4,
    score_protocol,
)

__all__ = [
    "BASELINES", "PAPER_TABLE4", "TABLE_COLUMNS", "EvalConfig", "EvaluationError", "FitbQuestions", "Protocol",
    "RecallCorpora", "build_protocol", "category_accuracy", "euclidean", "evaluate_all", "evaluate_embeddings",
    "fitb_accuracy", "fitb_distance_sums", "fitb_external", "format_table", "load_fitb_questions",
    "read_run_metrics", "read_table4", "recall_at_k", "score_protocol", "select_test_items",
]
