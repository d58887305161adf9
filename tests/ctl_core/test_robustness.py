"""Issue 12 (part B) findings outside the importers and the database: consistent catalogue-inference artefacts,
one-line errors instead of tracebacks for broken workspace files, and the image checks.

Each test names the finding it covers; each failed on the code before the fix (see the issue note)."""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ctl_core.cli import main
from ctl_core.config import INFERENCE_META_FILE, Workspace
from ctl_core.data.tables import read_catalogue, write_table
from ctl_core.images import (
    MAX_ASPECT,
    MIN_SIDE,
    ImageError,
    displayable,
    load_image,
    load_thumbnail,
    product_shot_score,
)
from ctl_core.io import JSONReadError, read_json, sha256_file
from ctl_core.model.ctl_model import ModelNotFoundError, load_model, read_run_config
from ctl_core.serving import catalogue as catalogue_mod
from ctl_core.serving.catalogue import CatalogueError, infer_catalogue, load_catalogue_inference
from ctl_core.serving.index import CategoryIndices, IndexMismatchError

METHOD = "triplet-category"
OTHER = "classification"
REBUILD = f"python -m ctl_core index --model {METHOD}"


def run_cli(ws: Workspace, *args: str, capsys) -> tuple[int, str]:
    """(exit code, stderr) of ``python -m ctl_core --workspace WS ARGS`` run in-process."""
    rc = main(["--workspace", str(ws.root), "--quiet", *args])
    return rc, capsys.readouterr().err.strip()


def recommend(ws: Workspace, capsys) -> tuple[int, str]:
    pid = read_catalogue(ws.catalogue_csv)["product_id"].iloc[0]
    return run_cli(ws, "recommend", "--model", METHOD, "--item", pid, "--k", "3", "--json", capsys=capsys)


def one_line_error(rc: int, err: str, *fragments: str) -> None:
    assert rc == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for f in fragments:
        assert f in err, err


def rewrite_meta(ws: Workspace, method: str = METHOD, **changes) -> None:
    """Change meta.json as a writer would (keys updated, checksums recomputed unless given)."""
    path = ws.catalogue_dir(method) / INFERENCE_META_FILE
    meta = json.loads(path.read_text())
    meta["predictions_sha256"] = sha256_file(ws.predictions_csv(method))
    meta["embeddings_sha256"] = sha256_file(ws.embeddings_npy(method))
    meta.update(changes)
    path.write_text(json.dumps(meta))


# ------------------------------------------------------------------------------------------------ read_json

def test_read_json_refuses_deep_nesting_bad_bytes_and_wrong_types(tmp_path):
    """Finding: JSON nested 200,000 deep raised RecursionError (a traceback) wherever we read JSON."""
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(JSONReadError, match="nested too deeply"):
        read_json(deep, "questions")
    (tmp_path / "latin.json").write_bytes('{"a": "é"}'.encode("latin-1"))
    with pytest.raises(JSONReadError, match="not UTF-8"):
        read_json(tmp_path / "latin.json")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(JSONReadError, match="should be an object, got a list"):
        read_json(tmp_path / "list.json", expect=dict)
    with pytest.raises(ValueError, match="not found"):
        read_json(tmp_path / "nope.json")


def test_deeply_nested_workspace_json_is_a_one_line_error(demo_ws_copy, capsys):
    ws = demo_ws_copy
    ws.manifest_path(METHOD).write_text("[" * 200_000 + "]" * 200_000)
    one_line_error(*recommend(ws, capsys), "manifest.json", "nested too deeply", REBUILD)


# ------------------------------------------------------------------------------------------------ model files

@pytest.mark.parametrize("content,fragment", [(b"", "is empty"), (b"garbage \x00\x01 not a zip", "not a PyTorch"),
                                              (b"PK\x03\x04 truncated zip", "not a PyTorch")])
def test_empty_or_garbage_heads_pt_is_a_one_line_error(demo_ws_copy, capsys, content, fragment):
    """Finding: a 0-byte or garbage heads.pt gave a traceback."""
    ws = demo_ws_copy
    ws.heads_path(METHOD).write_bytes(content)
    with pytest.raises(ModelNotFoundError, match=fragment):
        load_model(ws, METHOD, device="cpu")
    one_line_error(*recommend(ws, capsys), "heads.pt", f"python -m ctl_core train --method {METHOD}")


class _Payload:
    """Stands for the object a hostile heads.pt carries (unpickling it would import and call code)."""

    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize("content", ["objects", "garbage"])
def test_refused_heads_pt_never_suggests_weights_only_false(demo_ws_copy, capsys, content):
    """Issue 20, finding 9: a refused heads.pt printed PyTorch's hint to re-run with `weights_only=False` (which
    would run the file's code); the message says what to do instead."""
    ws = demo_ws_copy
    if content == "objects":
        state = dict(torch.load(ws.heads_path(METHOD), weights_only=True))
        state["extra"] = _Payload()
        torch.save(state, ws.heads_path(METHOD))
    else:
        ws.heads_path(METHOD).write_bytes(b"garbage \x00\x01 not a zip")
    with pytest.raises(ModelNotFoundError) as e:
        load_model(ws, METHOD, device="cpu")
    rc, err = recommend(ws, capsys)
    for text in (str(e.value), err):
        assert "weights_only" not in text and "still be loaded" not in text, text
        assert f"python -m ctl_core train --method {METHOD}" in text and "backup" in text, text
    one_line_error(rc, err, "heads.pt")
    if content == "objects":
        assert "could run code" in err and "do not load it any other way" in err


def test_config_with_unknown_or_bad_keys_is_a_one_line_error(demo_ws_copy, capsys):
    """Finding: a config.json with unknown keys gave a traceback (TypeError from HeadsConfig)."""
    ws = demo_ws_copy
    path = ws.run_config_path(METHOD)
    good = json.loads(path.read_text())
    path.write_text(json.dumps({**good, "heads": {**good["heads"], "colour_head": 3}}))
    with pytest.raises(ModelNotFoundError, match=r"unknown keys \['colour_head'\]"):
        read_run_config(ws, METHOD)
    one_line_error(*recommend(ws, capsys), "config.json", "colour_head")
    path.write_text(json.dumps({**good, "heads": {**good["heads"], "in_dim": "wide"}}))
    with pytest.raises(ModelNotFoundError):
        load_model(ws, METHOD, device="cpu")
    path.write_text(json.dumps([good]))
    with pytest.raises(ModelNotFoundError, match="should be an object"):
        read_run_config(ws, METHOD)


# ------------------------------------------------------------------------------------------------ index manifest

def _manifest(ws: Workspace) -> dict:
    return json.loads(ws.manifest_path(METHOD).read_text())


@pytest.mark.parametrize("mutate", [
    lambda m: [m],                                                         # a list, not an object
    lambda m: {**m, "categories": list(m["categories"])},                  # categories a list
    lambda m: {**m, "categories": {c: "x" for c in m["categories"]}},      # entries not objects
    lambda m: {**m, "categories": {c: {k: v for k, v in e.items() if k != "count"}
                                   for c, e in m["categories"].items()}},  # an entry without its count
    lambda m: {**m, "categories": {c: {**e, "index_file": ["a"]} for c, e in m["categories"].items()}},
], ids=["list", "categories-list", "entry-string", "no-count", "file-list"])
def test_manifest_of_the_wrong_structure_is_a_one_line_error(demo_ws_copy, capsys, mutate):
    """Finding: a manifest of the wrong structure gave a traceback (AttributeError/KeyError)."""
    ws = demo_ws_copy
    ws.manifest_path(METHOD).write_text(json.dumps(mutate(_manifest(ws))))
    with pytest.raises(IndexMismatchError, match="manifest"):
        CategoryIndices.load(ws, METHOD)
    one_line_error(*recommend(ws, capsys), "manifest.json", REBUILD)


# ------------------------------------------------------------------------------------------------ catalogue artefacts

def test_permuted_embeddings_are_refused_by_recommend(demo_ws_copy, capsys):
    """Finding: permuted embedding rows (same count) were served silently wrong; recommend exited 0."""
    ws = demo_ws_copy
    emb = np.load(ws.embeddings_npy(METHOD))
    np.save(ws.embeddings_npy(METHOD), emb[::-1].copy())
    with pytest.raises(CatalogueError, match="embeddings.npy does not match"):
        load_catalogue_inference(ws, METHOD)
    one_line_error(*recommend(ws, capsys), "embeddings.npy", REBUILD)


def test_predictions_from_another_run_are_refused_by_recommend(demo_ws_copy, capsys):
    """Finding: predictions.csv of another run with the same row count was accepted (only the count linked them)."""
    ws = demo_ws_copy
    other = pd.read_csv(ws.predictions_csv(OTHER), dtype=str, keep_default_na=False)
    assert len(other) == len(pd.read_csv(ws.predictions_csv(METHOD)))
    ws.predictions_csv(METHOD).write_bytes(ws.predictions_csv(OTHER).read_bytes())
    with pytest.raises(CatalogueError, match="predictions.csv does not match"):
        load_catalogue_inference(ws, METHOD)
    one_line_error(*recommend(ws, capsys), "predictions.csv", REBUILD)


def test_index_killed_between_writes_is_refused_then_rebuilt(demo_ws_copy, capsys, monkeypatch):
    """Finding: `index` dying between predictions.csv and embeddings.npy (same row count) was served wrong."""
    ws = demo_ws_copy
    # a product leaves the catalogue, then `index` is killed after writing predictions.csv
    cat = read_catalogue(ws.catalogue_csv)
    gone = cat["product_id"].iloc[3]
    write_table(cat[cat["product_id"] != gone], ws.catalogue_csv, list(cat.columns))

    def killed(*a, **kw):
        raise KeyboardInterrupt("kill -9 between the writes")

    monkeypatch.setattr(catalogue_mod, "save_npy_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        infer_catalogue(ws, METHOD, device="cpu")
    one_line_error(*recommend(ws, capsys), "predictions.csv does not match", REBUILD)
    monkeypatch.undo()
    assert run_cli(ws, "index", "--model", METHOD, capsys=capsys)[0] == 0
    rc, _ = recommend(ws, capsys)
    assert rc == 0
    preds, emb, _ = load_catalogue_inference(ws, METHOD)
    assert gone not in set(preds["product_id"]) and len(preds) == len(emb)


def test_indices_built_from_another_catalogue_inference_are_refused(demo_ws_copy, capsys):
    """Finding: after catalogue inference changed, the old indices served a product no longer in the catalogue."""
    ws = demo_ws_copy
    cat = read_catalogue(ws.catalogue_csv)
    write_table(cat.iloc[1:], ws.catalogue_csv, list(cat.columns))
    infer_catalogue(ws, METHOD, device="cpu")          # killed before the indices were rebuilt
    with pytest.raises(IndexMismatchError, match="another catalogue inference"):
        CategoryIndices.load(ws, METHOD)
    one_line_error(*recommend(ws, capsys), "another catalogue inference", REBUILD)


def test_empty_or_wrong_dimension_embeddings_are_one_line_errors(demo_ws_copy, capsys):
    """Finding: a 0-byte or wrong-dimension embeddings.npy gave a traceback, even with matching checksums."""
    ws = demo_ws_copy
    emb = np.load(ws.embeddings_npy(METHOD))
    ws.embeddings_npy(METHOD).write_bytes(b"")
    rewrite_meta(ws)
    with pytest.raises(CatalogueError, match="cannot be read as a NumPy array"):
        load_catalogue_inference(ws, METHOD)
    np.save(ws.embeddings_npy(METHOD), emb[:, :64].copy())
    rewrite_meta(ws)
    with pytest.raises(CatalogueError, match=r"shape \(\d+, 64\); expected \(N, 128\)"):
        load_catalogue_inference(ws, METHOD)
    one_line_error(*recommend(ws, capsys), "embeddings.npy", REBUILD)
    ws.embeddings_npy(METHOD).write_bytes(b"")      # a bare 0-byte file: its checksum no longer matches
    one_line_error(*recommend(ws, capsys), "embeddings.npy", REBUILD)


def test_truncated_catalogue_csv_is_refused_with_the_rebuild_command(demo_ws_copy, capsys):
    """Issue 20, finding 2: data/catalogue.csv cut mid-row gave `recommend --json` rc 0 with results missing
    their title and image, and no word about the catalogue."""
    ws = demo_ws_copy
    meta = json.loads((ws.catalogue_dir(METHOD) / INFERENCE_META_FILE).read_text())
    rows = len(read_catalogue(ws.catalogue_csv))
    assert meta["catalogue_rows"] == rows and meta["catalogue_sha256"] == sha256_file(ws.catalogue_csv)
    data = ws.catalogue_csv.read_bytes()
    pid = read_catalogue(ws.catalogue_csv)["product_id"].iloc[0]
    ws.catalogue_csv.write_bytes(data[: len(data) * 2 // 5 + 7])          # mid-row
    with pytest.raises(CatalogueError, match="catalogue.csv is not the catalogue"):
        load_catalogue_inference(ws, METHOD)
    rc, err = run_cli(ws, "recommend", "--model", METHOD, "--item", pid, "--k", "3", "--json", capsys=capsys)
    one_line_error(rc, err, "catalogue.csv", f"{rows} rows recorded", REBUILD)
    # an edit that keeps the row count is caught by the checksum
    ws.catalogue_csv.write_bytes(data.replace(b"demo", b"dem0", 1))
    one_line_error(*recommend(ws, capsys), "catalogue.csv", REBUILD)
    # resumable all the same: re-indexing after a changed catalogue computes nothing it already has
    ws.catalogue_csv.write_bytes(data)
    cat = read_catalogue(ws.catalogue_csv)
    write_table(cat.iloc[1:], ws.catalogue_csv, list(cat.columns))
    infer_catalogue(ws, METHOD, device="cpu")
    assert json.loads((ws.catalogue_dir(METHOD) / INFERENCE_META_FILE).read_text())["computed_this_run"] == 0


def test_meta_records_the_checksums_last(demo_ws):
    meta = json.loads((demo_ws.catalogue_dir(METHOD) / INFERENCE_META_FILE).read_text())
    assert meta["predictions_sha256"] == sha256_file(demo_ws.predictions_csv(METHOD))
    assert meta["embeddings_sha256"] == sha256_file(demo_ws.embeddings_npy(METHOD))
    ids = pd.read_csv(demo_ws.predictions_csv(METHOD), dtype=str)["product_id"]
    assert meta["product_ids_sha256"] == hashlib.sha256("\n".join(ids).encode()).hexdigest()
    manifest = json.loads(demo_ws.manifest_path(METHOD).read_text())
    assert manifest["catalogue_embeddings_sha256"] == meta["embeddings_sha256"]


# ------------------------------------------------------------------------------------------------ images

def png(size: tuple[int, int], colour=(255, 255, 255)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def product_photo(size=(120, 120)) -> Image.Image:
    img = Image.new("RGB", size, "white")
    img.paste(Image.new("RGB", (size[0] // 2, size[1] * 2 // 3), (20, 40, 160)), (size[0] // 4, size[1] // 6))
    return img


def test_huge_file_is_refused_by_its_size_without_being_read(tmp_path, monkeypatch):
    """Finding: a 2 GB file named .jpg was read whole into memory before it was refused."""
    big = tmp_path / "huge.jpg"
    with open(big, "wb") as f:
        f.truncate(2 * 1024 ** 3)            # sparse: 2 GB by stat, no disk used
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} was read"))
    with pytest.raises(ImageError, match="2,048 MiB"):
        load_image(big)
    assert displayable(big) is False


@pytest.mark.parametrize("size,fragment", [((100_000, 10), "elongated"), ((10, 10), "too small"),
                                           ((MIN_SIDE, int(MIN_SIDE * MAX_ASPECT) + 1), "elongated"),
                                           ((15, 200), "too small")])
def test_extreme_shapes_are_refused(tmp_path, size, fragment):
    """Finding: a 100000x10 PNG of 1 KB passed every check (then st.image raised)."""
    data = png(size)
    with pytest.raises(ImageError, match=fragment):
        load_image(data)
    path = tmp_path / "x.png"
    path.write_bytes(data)
    assert displayable(path) is False and load_thumbnail(path) is None


def test_usual_shapes_still_load_and_display(tmp_path):
    for size in ((MIN_SIDE, MIN_SIDE), (MIN_SIDE, int(MIN_SIDE * MAX_ASPECT)), (640, 480)):
        path = tmp_path / f"{size[0]}x{size[1]}.png"
        path.write_bytes(png(size))
        assert load_image(path).size == size and displayable(path)
    thumb = load_thumbnail(tmp_path / "640x480.png", max_side=64)
    assert thumb is not None and max(thumb.size) == 64
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert displayable(tmp_path / "junk.png") is False and displayable(tmp_path / "missing.png") is False


def test_blank_and_near_uniform_images_fail_the_product_shot_check():
    """Finding: a blank 1x1 image passed the product-shot check with score 1.00."""
    assert product_shot_score(Image.new("RGB", (1, 1), "white")) == 0.0
    assert product_shot_score(Image.new("RGB", (300, 300), (245, 245, 245))) == 0.0
    rng = np.random.default_rng(0)
    faint = np.clip(240 + rng.normal(0, 1.5, (200, 200, 3)), 0, 255).astype(np.uint8)
    assert product_shot_score(Image.fromarray(faint)) == 0.0
    assert product_shot_score(product_photo()) > 0.9        # a product on white still passes


def test_catalogue_inference_skips_and_counts_an_extreme_image(demo_ws_copy):
    """Finding: an extreme image in the catalogue passed catalogue inference (and then broke pages)."""
    ws = demo_ws_copy
    (ws.root / "bad").mkdir()
    (ws.root / "bad" / "wide.png").write_bytes(png((100_000, 10)))
    cat = read_catalogue(ws.catalogue_csv)
    extra = {**cat.iloc[0].to_dict(), "product_id": "wide", "image_path": "bad/wide.png", "source": "folder"}
    write_table(pd.concat([cat, pd.DataFrame([extra])], ignore_index=True), ws.catalogue_csv, list(cat.columns))
    preds = infer_catalogue(ws, METHOD, device="cpu")
    meta = json.loads((ws.catalogue_dir(METHOD) / INFERENCE_META_FILE).read_text())
    assert "wide" not in set(preds["product_id"]) and meta["skipped_unreadable"] == 1
    assert len(preds) == len(cat)
