"""Fixtures for the human-evaluation database tests: a fresh SQLite file per test and a tiny study."""
from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from db.schema import Base
from db.session import init_db, make_engine, read_session
from db.studies import create_study


def fake_recommend(method: str, product_id: str, k: int) -> list[tuple[str, int]]:
    """Model "a" returns c0..c{k-1}, model "b" c1..ck: they share k-1 candidates per query."""
    shift = {"a": 0, "b": 1, "c": 2}[method]
    return [(f"{product_id}-c{i + shift}", i) for i in range(k)]


@pytest.fixture
def engine(tmp_path) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'ctl.sqlite'}")
    init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def study(engine) -> int:
    return create_study(engine, "tiny", ["q1", "q2"], ["a", "b"], fake_recommend, k=3, overlap=2, seed=0,
                        gold_pairs=[("g1", "g2", True), ("g3", "g4", False)])


def row_counts(engine: Engine) -> dict[str, int]:
    with read_session(engine) as s:
        return {name: s.scalar(select(func.count()).select_from(t)) for name, t in Base.metadata.tables.items()}
