"""Scene-based Complete The Look (Kang et al., CVPR 2019): the baseline row of the KDD 2020 paper.

A SCENE (an outfit collage with one product's box whited out) and a candidate PRODUCT get a hybrid compatibility
distance: global scene-to-product plus attention-weighted region-to-product, over frozen backbone features.

Modules, in pipeline order:
  * ``scene.model``: ``SceneConfig``, the distance (``RegionAttention``, ``distance_parts``, ``hybrid_distance``) and
    the learned ``SceneHeads``;
  * ``scene.data``: masked-collage scenes (``build_scenes``, ``mask_boxes``), their cached feature maps
    (``scene_maps``) and one split's scenes and products (``split_data``);
  * ``scene.train``: the triplet loop (``train_scene_heads``) and the run folder (``train_scene_model``,
    ``load_scene_heads``);
  * ``scene.evaluate``: FITB and Recall@K against two baselines (``evaluate_scene_model``);
  * ``scene.serve``: ``SceneRecommender``, products that complete an uploaded scene.
"""
from __future__ import annotations

from ctl_core.scene.data import (
    Box,
    Scene,
    SplitData,
    build_scenes,
    load_tables,
    mask_boxes,
    negative_pools,
    normalised_to_pixels,
    render_scene,
    scene_maps,
    scenes_dir,
    split_data,
)
from ctl_core.scene.evaluate import evaluate_scene_model, scene_protocol, score_scene_protocol
from ctl_core.scene.model import (
    RegionAttention,
    SceneConfig,
    SceneError,
    SceneHeads,
    candidate_distances,
    distance_parts,
    hybrid_distance,
)
from ctl_core.scene.serve import SceneRecommender
from ctl_core.scene.train import load_scene_heads, train_scene_heads, train_scene_model

__all__ = [
    "Box", "Scene", "SplitData", "build_scenes", "load_tables", "mask_boxes", "negative_pools", "normalised_to_pixels",
    "render_scene", "scene_maps", "scenes_dir", "split_data",
    "evaluate_scene_model", "scene_protocol", "score_scene_protocol",
    "RegionAttention", "SceneConfig", "SceneError", "SceneHeads", "candidate_distances", "distance_parts",
    "hybrid_distance",
    "SceneRecommender",
    "load_scene_heads", "train_scene_heads", "train_scene_model",
]
