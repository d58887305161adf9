"""Offline evaluation (paper sec. 6.1): Recall@K and fill-in-the-blank (FITB), and the Table-4 comparison.

  metrics   pure metrics over arrays (recall_at_k, fitb_accuracy, category_accuracy, euclidean)
  protocol  the seeded draw of the Recall@K corpora and FITB questions (EvalConfig, build_protocol); its docstring
            writes down every choice of the protocol
  table4    scoring embeddings, trained runs and baselines on one protocol; eval/table.csv|json, metrics.json;
            their readers (read_table4, read_run_metrics) and the Markdown table (format_table)
  fitb_file fill-in-the-blank questions you bring, by product id, on the catalogue embeddings (evaluate --fitb)

Importing this package does not load torch (only scoring a trained run does).
"""
from ctl_core.evaluation.fitb_file import (
    FitbFileError,
    evaluate_fitb_file,
    format_fitb_results,
    make_fitb_questions,
    read_fitb_file,
    score_fitb_products,
    wilson_interval,
    write_fitb_file,
)
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
    N_COLUMNS,
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
    table_columns,
)

__all__ = [
    "BASELINES", "N_COLUMNS", "PAPER_TABLE4", "TABLE_COLUMNS", "EvalConfig", "EvaluationError", "FitbFileError",
    "FitbQuestions", "Protocol", "RecallCorpora", "build_protocol", "category_accuracy", "euclidean", "evaluate_all",
    "evaluate_embeddings", "evaluate_fitb_file", "fitb_accuracy", "fitb_distance_sums", "fitb_external",
    "format_fitb_results", "format_table", "load_fitb_questions", "make_fitb_questions", "read_fitb_file",
    "read_run_metrics", "read_table4", "recall_at_k", "score_fitb_products", "score_protocol", "select_test_items",
    "table_columns", "wilson_interval", "write_fitb_file",
]
