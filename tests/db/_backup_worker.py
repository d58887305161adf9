"""Workers for the backup and study-race tests (a separate module so spawned processes import little)."""
from __future__ import annotations

import random


def keep_submitting(url: str, study_id: int, pair_ids: list[int], name: str, seed: int, started, stop,
                    results) -> None:
    """Submit judgments as ``name`` until ``stop`` is set; report how many were committed."""
    from db import store
    from db.session import make_engine

    engine = make_engine(url)
    rng = random.Random(seed)
    done, errors = 0, []
    try:
        store.get_or_create_annotator(engine, name)
        started.wait(timeout=60)
        while not stop.is_set():
            compatible = rng.choice([True, False, None])
            modes = [] if compatible else rng.sample(["colour_clash", "print_clash", "style_mismatch"], 1)
            try:
                store.submit_judgment(engine, study_id, rng.choice(pair_ids), name, compatible, modes,
                                      f"{name} #{done}")
                done += 1
            except Exception as e:  # reported, then asserted empty
                errors.append(f"{type(e).__name__}: {e}")
    finally:
        engine.dispose()
    results.put((name, done, errors))


def create_named_study(url: str, name: str, barrier, results) -> None:
    """Create a study called ``name`` right after every other worker reaches the barrier."""
    from db.session import make_engine
    from db.studies import create_study

    engine = make_engine(url)
    barrier.wait(timeout=60)
    try:
        create_study(engine, name, ["q1", "q2"], ["a"], lambda m, q, k: [(f"{q}-c{i}", i) for i in range(k)], k=3)
        results.put("created")
    except Exception as e:
        results.put(f"{type(e).__name__}: {e}")
    finally:
        engine.dispose()
