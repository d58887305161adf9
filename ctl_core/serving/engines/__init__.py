"""Engines for the offline serving stages: ``local`` (one process) or ``ray`` (Ray Data on this machine or a
cluster). Entry points: ``infer_catalogue_engine``, ``build_indices_engine``, ``index_catalogue``,
``cached_features_engine`` and ``engine_session``, all taking an ``EngineConfig`` (or an engine name)."""
from ctl_core.serving.engines.api import (
    as_engine,
    build_indices_engine,
    cached_features_engine,
    engine_session,
    index_catalogue,
    infer_catalogue_engine,
)
from ctl_core.serving.engines.config import ENGINES, EngineConfig, EngineError
from ctl_core.serving.engines.report import InferenceReport

__all__ = ["ENGINES", "EngineConfig", "EngineError", "InferenceReport", "as_engine", "build_indices_engine",
           "cached_features_engine", "engine_session", "index_catalogue", "infer_catalogue_engine"]
