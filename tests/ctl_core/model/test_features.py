"""Cached featurizing: alignment, dedupe, only-missing computation, resume, staleness, bad images."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ctl_core.config import Workspace
from ctl_core.images import ImageError, crop_box, load_image
from ctl_core.model.backbone import build_transform, create_backbone
from ctl_core.model.features import (
    FEATURES_FILE,
    KEYS_FILE,
    _Cache,
    cached_features,
    imagenet_logits,
    item_sources,
    source_key,
)


@pytest.fixture()
def ws(tmp_path) -> Workspace:
    ws = Workspace.at(tmp_path)
    folder = tmp_path / "img"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        arr = (rng.random((50 + 3 * i, 70, 3)) * 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"p{i}.{'png' if i % 3 == 0 else 'jpg'}")
    return ws


@pytest.fixture(scope="module")
def tiny():
    return create_backbone("tiny-cnn")


def _paths(ws: Workspace) -> list[str]:
    return sorted(ws.rel(p) for p in (ws.root / "img").iterdir())


def _direct(ws, bb, path, box) -> np.ndarray:
    x = build_transform(bb.preprocess)(crop_box(load_image(ws.abs(path)), box)).unsqueeze(0)
    with torch.no_grad():
        return bb.forward_features(x)[0].numpy()


class _Counter:
    def __init__(self):
        self.totals: list[int] = []

    def __call__(self, stage, done, total):
        assert stage == "features" and 0 <= done <= total
        self.totals.append(total)


def test_item_sources_from_items_rows():
    df = pd.DataFrame({"image_path": ["a.png", "c.jpg"], "box_x": [np.nan, 3.0], "box_y": [np.nan, 4.0],
                       "box_w": [np.nan, 20.0], "box_h": [np.nan, 30.0]})
    assert item_sources(df) == [("a.png", None), ("c.jpg", (3, 4, 20, 30))]
    df.loc[0, "box_x"] = 1.0
    with pytest.raises(ValueError, match="partial box"):
        item_sources(df)
    assert source_key("c.jpg", (3, 4, 20, 30)) == "c.jpg#3,4,20,30"


def test_features_are_aligned_with_sources_and_match_a_direct_forward(ws, tiny):
    paths = _paths(ws)
    sources = [(paths[0], None), (paths[1], (5, 5, 40, 30)), (paths[0], None), (paths[2], None)]
    counter = _Counter()
    feats = cached_features(ws, tiny, sources, batch_size=2, num_workers=1, progress=counter)
    assert feats.shape == (4, 64) and feats.dtype == np.float32
    assert counter.totals[-1] == 3  # the duplicate key is computed once
    for row, (p, b) in zip(feats, sources):
        np.testing.assert_allclose(row, _direct(ws, tiny, p, b), atol=1e-4)
    assert np.array_equal(feats[0], feats[2])
    folder = ws.features_dir("tiny-cnn")
    assert (folder / FEATURES_FILE).exists() and (folder / KEYS_FILE).exists()
    assert len(pd.read_csv(folder / KEYS_FILE)) == len(np.load(folder / FEATURES_FILE)) == 3
    assert not list((folder / "parts").glob("*"))  # merged at the end of the run


def test_only_missing_keys_are_computed_and_results_do_not_depend_on_workers(ws, tiny):
    paths = _paths(ws)
    first = cached_features(ws, tiny, [(p, None) for p in paths[:4]], batch_size=3, num_workers=0)
    counter = _Counter()
    both = cached_features(ws, tiny, [(p, None) for p in paths[:7]], batch_size=3, num_workers=2,
                           progress=counter)
    assert counter.totals[-1] == 3
    np.testing.assert_array_equal(both[:4], first)
    counter = _Counter()
    cached_features(ws, tiny, [(p, None) for p in paths[:7]], progress=counter)
    assert counter.totals == [0]  # nothing left to compute


def test_interrupted_run_resumes_without_recomputing(ws, tiny):
    paths = _paths(ws)
    sources = [(p, None) for p in paths]

    def stop_after_six(stage, done, total):
        if done >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_features(ws, tiny, sources, batch_size=2, chunk_size=2, num_workers=1, progress=stop_after_six)
    counter = _Counter()
    feats = cached_features(ws, tiny, sources, batch_size=2, progress=counter)
    assert counter.totals[-1] == 4
    np.testing.assert_allclose(feats[-1], _direct(ws, tiny, *sources[-1]), atol=1e-4)


def test_leftover_parts_are_merged_and_torn_rows_ignored(ws, tiny):
    paths = _paths(ws)
    cached_features(ws, tiny, [(paths[0], None)])
    folder = ws.features_dir("tiny-cnn")
    # a crash after features.npy was replaced but before keys.csv: one extra row
    f = np.load(folder / FEATURES_FILE)
    np.save(folder / FEATURES_FILE, np.concatenate([f, np.full((1, 64), 7.0, np.float32)]))
    # a chunk written by a run that died before merging
    cache = _Cache(folder, tiny)
    fake = np.full((1, 64), 3.0, np.float32)
    stamp = f"{(ws.abs(paths[1])).stat().st_size}-{(ws.abs(paths[1])).stat().st_mtime_ns}"
    cache.write_part([paths[1]], [stamp], fake)
    counter = _Counter()
    feats = cached_features(ws, tiny, [(paths[0], None), (paths[1], None)], progress=counter)
    assert counter.totals == [0]
    np.testing.assert_array_equal(feats[1], fake[0])  # the part's row was used, not recomputed
    assert len(np.load(folder / FEATURES_FILE)) == 2


def test_a_rewritten_image_is_recomputed(ws, tiny):
    path = _paths(ws)[1]
    before = cached_features(ws, tiny, [(path, None)])
    Image.new("RGB", (60, 60), (10, 200, 30)).save(ws.abs(path), format="JPEG" if path.endswith("jpg") else "PNG")
    st = ws.abs(path).stat()
    os.utime(ws.abs(path), ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    after = cached_features(ws, tiny, [(path, None)])
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after[0], _direct(ws, tiny, path, None), atol=1e-4)
    assert len(np.load(ws.features_dir("tiny-cnn") / FEATURES_FILE)) == 1


def test_other_weights_under_the_same_name_empty_the_cache(ws, tiny):
    path = _paths(ws)[0]
    a = cached_features(ws, tiny, [(path, None)])
    other = create_backbone("tiny-cnn", seed=1)
    with pytest.warns(UserWarning, match="recomputing"):
        b = cached_features(ws, other, [(path, None)])
    assert not np.allclose(a, b)
    np.testing.assert_allclose(b[0], _direct(ws, other, path, None), atol=1e-4)


def test_bad_images_raise_with_the_file_name_or_are_masked(ws, tiny):
    paths = _paths(ws)
    (ws.root / "img" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    sources = [(paths[0], None), ("img/broken.jpg", None), (paths[1], (500, 500, 20, 20)), (paths[3], None)]
    with pytest.raises(ImageError, match="broken.jpg"):
        cached_features(ws, tiny, sources[:2], batch_size=1, num_workers=1)
    with pytest.raises(ImageError, match=r"p.*outside"):
        cached_features(ws, tiny, sources[2:3])
    with pytest.warns(UserWarning, match="2 of 4 images"):
        feats, bad = cached_features(ws, tiny, sources, batch_size=2, skip_bad=True)
    assert bad.tolist() == [False, True, True, False]
    assert not feats[1].any() and not feats[2].any() and feats[3].any()
    keys = pd.read_csv(ws.features_dir("tiny-cnn") / KEYS_FILE)["key"].tolist()
    assert "img/broken.jpg" not in keys  # bad rows are retried next time, never cached
    # a file that was fine when cached and is broken now is not served from the old row
    ws.abs(paths[3]).write_bytes(b"")
    with pytest.warns(UserWarning, match="1 of 2 images.*empty"):
        feats, bad = cached_features(ws, tiny, [(paths[0], None), (paths[3], None)], skip_bad=True)
    assert bad.tolist() == [False, True] and not feats[1].any()


def test_imagenet_logits_from_cached_features(ws, tiny):
    feats = cached_features(ws, tiny, [(p, None) for p in _paths(ws)[:2]])
    assert imagenet_logits(tiny, feats) is None
    lite0 = create_backbone("efficientnet-lite0")
    f = np.random.default_rng(0).random((3, 1280)).astype(np.float32)
    logits = imagenet_logits(lite0, f, batch_size=2)
    with torch.no_grad():
        ref = lite0.imagenet_logits(torch.from_numpy(f)).numpy()
    assert logits.shape == (3, 1000)
    np.testing.assert_allclose(logits, ref, atol=1e-5)
