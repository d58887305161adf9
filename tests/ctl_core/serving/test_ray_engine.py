"""The Ray engine for catalogue inference, indices and the feature cache, on the tiny demo workspace.

One local Ray instance for the whole file (``ray_local``, about 5 s to start). Each test copies the session's demo
workspace, whose catalogue inference and indices were made by the local engine: the reference the Ray engine must
match.
"""
from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray

from ctl_core.cli import main
from ctl_core.data.importers.common import MISSING_IMAGE, NOT_AN_IMAGE, UNREADABLE_IMAGE
from ctl_core.data.tables import CATALOGUE_COLUMNS, read_catalogue, read_items, write_table
from ctl_core.model.backbone import create_backbone
from ctl_core.model.features import item_sources
from ctl_core.serving.catalogue import load_catalogue_inference
from ctl_core.serving.engines import EngineConfig, EngineError, cached_features_engine, infer_catalogue_engine
from ctl_core.serving.engines.ray_catalogue import SHARDS_DIR, infer_catalogue_ray, read_shards
from ctl_core.serving.engines.runtime import RayInfo, RayJobError, plan_actors
from ctl_core.serving.engines.stages import OK, CatalogueActor
from ctl_core.serving.index import CategoryIndices, IndexMismatchError
from ctl_core.serving.recommender import Recommender

pytestmark = [pytest.mark.ray, pytest.mark.slow]

METHOD = "triplet-category"
RAY = EngineConfig(engine="ray", actors=1, batch_size=8, progress_bars=False)  # one actor: fewer process starts
SMALL = EngineConfig(engine="ray", actors=1, batch_size=8, progress_bars=False, actor_cpus=0.5, decode_cpus=0.25)


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance for every test here (the engine reuses an initialised Ray and leaves it running);
    shut down after this file, so the rest of the suite runs without Ray's processes."""
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


@pytest.fixture
def fresh(demo_ws_copy):
    """A copy of the demo workspace without the catalogue inference and indices of METHOD (the Ray run's target)."""
    shutil.rmtree(demo_ws_copy.catalogue_dir(METHOD))
    shutil.rmtree(demo_ws_copy.index_dir(METHOD))
    return demo_ws_copy


def _rows(ws) -> tuple[pd.DataFrame, np.ndarray]:
    preds, emb, _ = load_catalogue_inference(ws, METHOD)
    return preds, emb


class DyingOnceActor(CatalogueActor):
    """Kills its own process (SIGKILL) on its first batch, once per workspace: a worker lost mid-job."""

    def __init__(self, root: str, *args, **kwargs):
        super().__init__(root, *args, **kwargs)
        self.marker = Path(root) / "killed-once"

    def __call__(self, batch):
        if not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(batch)


class FailingActor(CatalogueActor):
    """Fails the job on its second batch (a job interrupted as a whole, after some shards were written)."""

    calls = 0

    def __call__(self, batch):
        FailingActor.calls += 1
        if FailingActor.calls >= 2:
            raise RuntimeError("job interrupted")
        return super().__call__(batch)


# ---------------------------------------------------------------------------------------------------- no Ray needed

def test_engine_config_refuses_bad_options():
    with pytest.raises(EngineError, match="unknown engine 'spark'"):
        EngineConfig(engine="spark")
    with pytest.raises(EngineError, match="actors must be at least 1"):
        EngineConfig(engine="ray", actors=0)
    info = RayInfo(started_here=True, startup_s=0.0, cpus=2.0, gpus=0.0, address="local")
    plan = plan_actors(EngineConfig(engine="ray", actors=2), info)
    assert plan.device == "cpu" and plan.actors * plan.actor_cpus + plan.decode_cpus <= 2.0
    gpu = plan_actors(EngineConfig(engine="ray"), RayInfo(True, 0.0, cpus=16.0, gpus=4.0, address="x"))
    assert gpu.device == "cuda" and gpu.actors == 4 and gpu.gpus_per_actor == 1.0
    with pytest.raises(EngineError, match="fewer --ray-actors"):
        plan_actors(EngineConfig(engine="ray", actors=2, actor_cpus=1.0), info)


# ---------------------------------------------------------------------------------------------------- Ray jobs

def test_index_on_ray_matches_the_local_engine(ray_local, demo_ws, fresh):
    """CLI ``index --engine ray``: same embeddings (float tolerance), categories and index contents as local."""
    assert main(["--workspace", str(fresh.root), "--quiet", "index", "--model", METHOD, "--engine", "ray",
                 "--ray-actors", "2", "--ray-batch-size", "8"]) == 0
    (lp, le), (rp, re_) = _rows(demo_ws), _rows(fresh)
    assert rp["product_id"].tolist() == lp["product_id"].tolist()
    assert rp["pred_category"].tolist() == lp["pred_category"].tolist()
    np.testing.assert_allclose(re_, le, atol=1e-5)
    np.testing.assert_allclose(rp["confidence"], lp["confidence"], atol=1e-5)
    np.testing.assert_allclose(rp["product_shot_score"], lp["product_shot_score"], atol=1e-6)
    local, mine = CategoryIndices.load(demo_ws, METHOD), CategoryIndices.load(fresh, METHOD)
    assert mine.categories == local.categories
    for c in local.categories:
        assert list(mine.ids[c]) == list(local.ids[c])
        assert mine.manifest["categories"][c]["factory"] == local.manifest["categories"][c]["factory"]
        n = local.count(c)
        np.testing.assert_allclose(mine.vectors(c, np.arange(n)), local.vectors(c, np.arange(n)), atol=1e-5)
    for key in ("model_checksum", "backbone", "embed_dim", "items_total", "items_indexed", "metric"):
        assert mine.manifest[key] == local.manifest[key]
    Recommender(fresh, METHOD, device="cpu")  # the recommender loads what the Ray engine wrote
    assert any((fresh.catalogue_dir(METHOD) / SHARDS_DIR).rglob("*.parquet"))


def test_rerun_embeds_only_new_and_changed_products(ray_local, fresh):
    first = infer_catalogue_engine(fresh, METHOD, RAY)
    assert first.computed == first.products and first.reused == 0
    assert infer_catalogue_engine(fresh, METHOD, RAY).computed == 0  # nothing changed: nothing computed

    cat = read_catalogue(fresh.catalogue_csv)
    a, b = cat.iloc[0], cat.iloc[1]
    shutil.copyfile(fresh.abs(b["image_path"]), fresh.abs(a["image_path"]))  # product a's image changed
    new_path = "universe/products/new-product.png"
    shutil.copyfile(fresh.abs(b["image_path"]), fresh.abs(new_path))
    new = cat.iloc[[1]].assign(product_id="new-product", image_path=new_path)
    write_table(pd.concat([cat, new], ignore_index=True), fresh.catalogue_csv, CATALOGUE_COLUMNS)

    third = infer_catalogue_engine(fresh, METHOD, RAY)
    assert third.computed == 2 and third.reused == len(cat) - 1
    preds, emb = _rows(fresh)
    row = {p: i for i, p in enumerate(preds["product_id"])}
    np.testing.assert_allclose(emb[row[a["product_id"]]], emb[row[b["product_id"]]], atol=1e-5)
    np.testing.assert_allclose(emb[row["new-product"]], emb[row[b["product_id"]]], atol=1e-5)
    assert len(list((fresh.catalogue_dir(METHOD) / SHARDS_DIR).rglob("*.parquet"))) == 1  # compacted


def test_killed_actor_is_retried_and_the_result_is_complete_and_identical(ray_local, demo_ws, fresh):
    report = infer_catalogue_ray(fresh, METHOD, RAY, actor_cls=DyingOnceActor)
    assert (fresh.root / "killed-once").exists()  # an actor process really died
    (lp, le), (rp, re_) = _rows(demo_ws), _rows(fresh)
    assert report.computed == len(lp) and rp["product_id"].tolist() == lp["product_id"].tolist()
    assert rp["pred_category"].tolist() == lp["pred_category"].tolist()
    np.testing.assert_allclose(re_, le, atol=1e-5)


def test_bad_images_are_rows_with_a_reason_not_a_failed_job(ray_local, fresh):
    cat = read_catalogue(fresh.catalogue_csv)
    missing, folder, garbage = cat["product_id"].iloc[:3]
    fresh.abs(cat["image_path"].iloc[0]).unlink()
    cat.loc[1, "image_path"] = "universe/products"  # a wrong path: a folder
    fresh.abs(cat["image_path"].iloc[2]).write_bytes(b"not an image at all" * 20)
    write_table(cat, fresh.catalogue_csv, CATALOGUE_COLUMNS)

    report = infer_catalogue_engine(fresh, METHOD, RAY)
    assert report.skipped == {MISSING_IMAGE: 1, NOT_AN_IMAGE: 1, UNREADABLE_IMAGE: 1}
    assert report.computed == len(cat) - 3
    assert missing in report.bad.examples[MISSING_IMAGE][0] and garbage in report.bad.examples[UNREADABLE_IMAGE][0]
    preds, _, meta = load_catalogue_inference(fresh, METHOD)
    assert not {missing, folder, garbage} & set(preds["product_id"]) and len(preds) == len(cat) - 3
    assert meta["skipped_by_reason"] == report.skipped and meta["skipped_unreadable"] == 3
    assert "skipped 1 (missing image)" in str(report)


def test_person_detector_applies_on_ray_as_in_the_local_engine(ray_local, demo_ws, fresh):
    """With a fitted person detector, both engines score min(border, 1 - p(person)) alike and record the detector."""
    from ctl_core.io import atomic_write_json
    from ctl_core.model.ctl_model import read_run_config, run_backbone
    from ctl_core.serving.catalogue import infer_catalogue
    from ctl_core.serving.product_shot import PersonDetector, ProductShotScorer, _input_stamps

    bb = run_backbone(read_run_config(fresh, METHOD))
    d = int(bb.num_features)
    det = PersonDetector(bb.fingerprint, np.zeros(d), np.ones(d), np.random.default_rng(0).normal(0, 0.3, d), 0.0,
                         _input_stamps(fresh), {})
    atomic_write_json(fresh.person_detector_path, det.to_dict())
    infer_catalogue(fresh, METHOD, device="cpu")
    local, _, local_meta = load_catalogue_inference(fresh, METHOD)
    shutil.rmtree(fresh.catalogue_dir(METHOD))
    infer_catalogue_engine(fresh, METHOD, RAY)
    mine, _, meta = load_catalogue_inference(fresh, METHOD)
    assert meta["person_detector"] == local_meta["person_detector"] == ProductShotScorer(det).fingerprint
    np.testing.assert_allclose(mine["product_shot_score"], local["product_shot_score"], atol=1e-5)
    border = _rows(demo_ws)[0]["product_shot_score"]
    assert (mine["product_shot_score"] < border - 1e-3).sum() > len(border) // 10  # the detector really acted


def test_feature_cache_on_ray_matches_the_local_cache(ray_local, demo_ws_copy):
    ws = demo_ws_copy
    backbone = create_backbone("tiny-cnn", pretrained=True)
    sources = item_sources(read_items(ws.items_csv))[:40]
    expected = cached_features_engine(ws, backbone, sources, "local")  # read from the demo's own cache
    shutil.rmtree(ws.features_dir(backbone.cache_name))
    got = cached_features_engine(ws, backbone, sources, RAY)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert ws.features_npy(backbone.cache_name).exists()


def test_demo_build_runs_its_offline_stages_on_ray(ray_local, demo_ws, fresh):
    from ctl_core.workflows.demo import DemoConfig, build_demo
    said: list[str] = []
    status = build_demo(fresh, DemoConfig(size=60, backbone="tiny-cnn", epochs=40, methods=(METHOD,), engine=RAY),
                        say=said.append)
    assert status.indices[METHOD] and any(f"[6/6] catalogue inference and per-category indices for {METHOD}" in s
                                          for s in said)
    assert load_catalogue_inference(fresh, METHOD)[2]["engine"] == "ray"
    assert CategoryIndices.load(fresh, METHOD).categories == CategoryIndices.load(demo_ws, METHOD).categories


def test_build_command_indexes_on_ray(ray_local, demo_ws, fresh):
    """CLI ``build --engine ray`` on a built workspace: only the missing index step runs, on Ray."""
    assert main(["--workspace", str(fresh.root), "--quiet", "build", "--methods", METHOD, "--no-evaluate",
                 "--engine", "ray", "--ray-actors", "1", "--ray-batch-size", "8"]) == 0
    assert load_catalogue_inference(fresh, METHOD)[2]["engine"] == "ray"
    assert CategoryIndices.load(fresh, METHOD).categories == CategoryIndices.load(demo_ws, METHOD).categories


def test_interrupted_job_leaves_no_manifest_and_the_rerun_completes(ray_local, demo_ws, fresh):
    """Last in the file: in a driver that keeps Ray running, the failed job's actor can outlive the job for a while
    and keep its CPUs reserved, so both jobs here reserve half the CPUs (the CLI's driver exits and stops Ray)."""
    FailingActor.calls = 0
    with pytest.raises(RayJobError, match="RuntimeError: job interrupted"):
        infer_catalogue_ray(fresh, METHOD, SMALL, actor_cls=FailingActor)
    assert not fresh.manifest_path(METHOD).exists()
    with pytest.raises(IndexMismatchError, match="no index manifest"):
        Recommender(fresh, METHOD, device="cpu")
    # What the failed job left on disk: good rows in shards (Ray Data wrote none in every run measured here — the
    # Write stage waits behind the failing actor — so the rerun below recomputes everything; if shards are left,
    # exactly their rows must be reused).
    left = [read_shards(d) for d in (fresh.catalogue_dir(METHOD) / SHARDS_DIR).glob("*") if d.is_dir()]
    left_ids = {p for t in left if t is not None for p, st in zip(t.column("product_id").to_pylist(),
                                                                  t.column("status").to_pylist()) if st == OK}
    report = infer_catalogue_engine(fresh, METHOD, SMALL)  # reruns; reuses whatever the failed job finished
    (lp, le), (rp, re_) = _rows(demo_ws), _rows(fresh)
    assert report.computed + report.reused == len(lp) and rp["product_id"].tolist() == lp["product_id"].tolist()
    assert report.reused == len(left_ids) and report.computed == len(lp) - len(left_ids)
    np.testing.assert_allclose(re_, le, atol=1e-5)
