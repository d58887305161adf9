"""Worker for the concurrency test (a separate module so spawned processes import little)."""
from __future__ import annotations

import random


def run_writer(url: str, study_id: int, pair_ids: list[int], name: str, n: int, seed: int, barrier, results) -> None:
    """Submit ``n`` judgments (repeats and changes of mind included) as ``name``; report the last value per pair."""
    from db import store
    from db.session import make_engine

    engine = make_engine(url)
    rng = random.Random(seed)
    last: dict[int, tuple] = {}
    errors: list[str] = []
    modes = ["colour_clash", "print_clash", "season_mismatch", "style_mismatch"]
    try:
        store.get_or_create_annotator(engine, name)
        barrier.wait(timeout=120)
        for i in range(n):
            pid = rng.choice(pair_ids)
            compatible = rng.choice([True, False, None])
            fm = [] if compatible else rng.sample(modes, rng.randint(0, 2))
            comment = f"{name} #{i} it's \"fine\"; --"
            try:
                store.submit_judgment(engine, study_id, pid, name, compatible, fm, comment, rng.random() * 10)
                last[pid] = (compatible, tuple(sorted(fm)), comment)
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}")
            if i % 25 == 0:
                store.next_pair(engine, study_id, name)
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
    finally:
        engine.dispose()
    results.put((name, last, errors))
