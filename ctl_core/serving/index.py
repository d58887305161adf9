"""Per-category FAISS indices with a manifest (paper sec. 3: inverted index by category, then ANN).

One index per category of the catalogue, built from ``catalogue/<method>/embeddings.npy``, excluding images that
are not product shots. A product's category is the shop's own where the catalogue carries one, the predicted one
otherwise (``ctl_core.serving.category_source``; the paper indexes by predicted category: Pinterest's pins have
none); product shots are what the import says they are, the product-shot score decides where it says nothing.
Index type by size: exact ``"Flat"`` for small categories, ``"HNSW32"`` (efSearch set) for large ones. Vectors are
unit length and indices use the L2 metric; ``search`` returns Euclidean distances (sqrt of faiss's squared L2).

``indices/<method>/manifest.json`` describes everything needed to trust the files:
  method, backbone, model_checksum, embed_dim, metric, product_shot_threshold, and per category:
  factory (faiss factory string), ef_search, count, index_file + index_sha256, ids_file + ids_sha256.
The manifest also records the checksums of the catalogue inference it was built from
(``catalogue_predictions_sha256``, ``catalogue_embeddings_sha256``). ``CategoryIndices.load`` refuses a manifest
whose checksum does not match the model, one built from another catalogue inference than the one now on disk, a
manifest of the wrong structure, and any missing or corrupt file — each with one line naming the file and the
command that rebuilds it. GPU FAISS is used at load time when the GPU build and a GPU are present (exact indices only;
faiss has no GPU HNSW).
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from ctl_core.config import INFERENCE_META_FILE, MANIFEST_FILE, Workspace
from ctl_core.data.categories import CATEGORIES, slug
from ctl_core.data.tables import read_catalogue
from ctl_core.images import PRODUCT_SHOT_THRESHOLD
from ctl_core.io import atomic_path, atomic_write_json, atomic_write_text, read_json, sha256_file
from ctl_core.progress import Progress
from ctl_core.serving.catalogue import CatalogueError, load_catalogue_inference
from ctl_core.serving.category_source import from_catalogue, serving_categories
from ctl_core.serving.product_shot import import_flag, served_as_product_shot

MANIFEST_VERSION = 1


class IndexMismatchError(ValueError):
    """Indices are missing, corrupt, or do not belong to the model being served."""


@dataclass(frozen=True)
class IndexConfig:
    """How indices are built. ``hnsw_threshold``: categories with at least this many vectors get HNSW."""

    hnsw_threshold: int = 20_000
    hnsw_m: int = 32
    ef_construction: int = 40
    ef_search: int = 64
    product_shot_threshold: float = PRODUCT_SHOT_THRESHOLD
    use_gpu: bool | None = None  # None: when faiss has GPUs

    def factory_for(self, n: int) -> str:
        return f"HNSW{self.hnsw_m}" if n >= self.hnsw_threshold else "Flat"


def _gpu_available() -> bool:
    return hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0 and hasattr(faiss, "StandardGpuResources")


def make_index(vectors: np.ndarray, factory: str, config: IndexConfig) -> faiss.Index:
    """A faiss index of ``factory`` over ``vectors`` (L2 metric), search parameters set."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.index_factory(int(vectors.shape[1]), factory, faiss.METRIC_L2)
    if factory.startswith("HNSW"):
        faiss.downcast_index(index).hnsw.efConstruction = config.ef_construction
    index.add(vectors)
    _set_search_params(index, factory, config.ef_search)
    return index


def _set_search_params(index: faiss.Index, factory: str, ef_search: int | None) -> None:
    if factory.startswith("HNSW") and ef_search:
        faiss.ParameterSpace().set_index_parameter(index, "efSearch", int(ef_search))


def _check_manifest(manifest: dict, mpath: Path, hint: str) -> dict[str, dict]:
    """The manifest's per-category entries, or ``IndexMismatchError`` naming the first part of the wrong shape."""
    def bad(what: str) -> IndexMismatchError:
        return IndexMismatchError(f"{mpath} is not an index manifest we wrote ({what}); rebuild: {hint}")

    entries = manifest.get("categories")
    if not isinstance(entries, dict):
        raise bad("'categories' should be an object of category -> entry")
    if entries and (not isinstance(manifest.get("embed_dim"), int) or isinstance(manifest.get("embed_dim"), bool)):
        raise bad("'embed_dim' should be a whole number")
    fields = {"factory": str, "count": int, "index_file": str, "ids_file": str}
    for c, e in entries.items():
        if c not in CATEGORIES:
            raise IndexMismatchError(f"{mpath} names an unknown category {c!r}")
        if not isinstance(e, dict):
            raise bad(f"the entry of {c!r} should be an object")
        for key, typ in fields.items():
            if not isinstance(e.get(key), typ) or isinstance(e.get(key), bool):
                raise bad(f"the entry of {c!r} lacks {key!r} or it is not a {typ.__name__}")
        if e["count"] < 0 or Path(e["index_file"]).name != e["index_file"] or Path(e["ids_file"]).name != e["ids_file"]:
            raise bad(f"the entry of {c!r} has a negative count or file names with folders")
        if e.get("ef_search") is not None and not isinstance(e["ef_search"], int):
            raise bad(f"the entry of {c!r} has a non-integer 'ef_search'")
    return entries


class CategoryIndices:
    """The per-category indices of one model; ``search(category, vec, k)`` → (item ids, Euclidean distances)."""

    def __init__(self, indices: Mapping[str, faiss.Index], ids: Mapping[str, np.ndarray], manifest: dict,
                 use_gpu: bool | None = None):
        self.manifest = manifest
        self.ids: dict[str, np.ndarray] = {c: np.asarray(v) for c, v in ids.items()}
        self._cpu: dict[str, faiss.Index] = dict(indices)
        self._search: dict[str, faiss.Index] = dict(indices)
        self.on_gpu = False
        if (use_gpu if use_gpu is not None else _gpu_available()) and _gpu_available():
            self._res = faiss.StandardGpuResources()
            for c, idx in indices.items():
                if manifest["categories"][c]["factory"] == "Flat":
                    self._search[c] = faiss.index_cpu_to_gpu(self._res, 0, idx)
                    self.on_gpu = True

    # -- building --------------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, vectors_by_category: Mapping[str, np.ndarray], ids_by_category: Mapping[str, np.ndarray],
              config: IndexConfig = IndexConfig(), meta: dict | None = None,
              progress: Progress | None = None) -> "CategoryIndices":
        """Build in memory (no files): one index per category, type chosen by size. ``meta`` goes into the manifest."""
        indices, ids, entries = {}, {}, {}
        cats = [c for c in vectors_by_category if len(vectors_by_category[c])]
        dim = None
        for i, c in enumerate(cats):
            v = vectors_by_category[c]
            dim = int(v.shape[1])
            factory = config.factory_for(len(v))
            t0 = time.perf_counter()
            indices[c] = make_index(v, factory, config)
            ids[c] = np.asarray(ids_by_category[c])
            assert len(ids[c]) == len(v), f"{c}: {len(ids[c])} ids for {len(v)} vectors"
            entries[c] = {"factory": factory, "ef_search": config.ef_search if factory != "Flat" else None,
                          "count": int(len(v)), "build_s": round(time.perf_counter() - t0, 3)}
            if progress:
                progress("indices", i + 1, len(cats))
        manifest = {"version": MANIFEST_VERSION, **(meta or {}), "embed_dim": dim, "metric": "L2",
                    "product_shot_threshold": config.product_shot_threshold,
                    "config": asdict(config), "categories": entries}
        return cls(indices, ids, manifest, use_gpu=config.use_gpu)

    @classmethod
    def merge(cls, parts: Sequence["CategoryIndices"], use_gpu: bool | None = None) -> "CategoryIndices":
        """One set from parts built separately (e.g. one category each, in parallel) with the same config and meta;
        categories in ``CATEGORIES`` order, the manifest's top level from the first part."""
        indices, ids, entries = {}, {}, {}
        for part in parts:
            indices.update(part._cpu)
            ids.update(part.ids)
            entries.update(part.manifest["categories"])
        dims = {p.manifest["embed_dim"] for p in parts if p.manifest["categories"]}
        assert len(dims) <= 1, f"parts have different embedding dimensions: {sorted(dims)}"
        order = [c for c in CATEGORIES if c in entries]
        manifest = dict(parts[0].manifest) if parts else {"version": MANIFEST_VERSION, "metric": "L2"}
        manifest.update(embed_dim=dims.pop() if dims else None, categories={c: entries[c] for c in order})
        return cls({c: indices[c] for c in order}, {c: ids[c] for c in order}, manifest, use_gpu=use_gpu)

    def save(self, folder: Path) -> dict:
        """Write every index, its id map and ``manifest.json`` (last) into ``folder``; stale files are removed."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = {MANIFEST_FILE}
        for c, idx in self._cpu.items():
            e = self.manifest["categories"][c]
            base = slug(c)
            ipath, jpath = folder / f"{base}.faiss", folder / f"{base}.ids.json"
            with atomic_path(ipath) as tmp:
                faiss.write_index(idx, str(tmp))
            atomic_write_text(jpath, json.dumps([str(x) for x in self.ids[c].tolist()]))
            e.update(index_file=ipath.name, index_sha256=sha256_file(ipath), ids_file=jpath.name,
                     ids_sha256=sha256_file(jpath), index_bytes=ipath.stat().st_size)
            written |= {ipath.name, jpath.name}
        atomic_write_json(folder / MANIFEST_FILE, self.manifest)
        for p in folder.iterdir():
            if p.is_file() and p.name not in written and (p.suffix in (".faiss", ".json", ".tmp")):
                p.unlink()
        return self.manifest

    # -- loading ---------------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, ws: Workspace, method: str, expected_checksum: str | None = None,
             use_gpu: bool | None = None, verify: bool = True) -> "CategoryIndices":
        """Load ``ws.index_dir(method)``; refuse (``IndexMismatchError``) a wrong model, indices built from another
        catalogue inference than ``ws.catalogue_dir(method)`` holds, or missing/corrupt files."""
        hint = f"python -m ctl_core index --model {method}"
        loaded = cls.load_dir(ws.index_dir(method), expected_checksum=expected_checksum, use_gpu=use_gpu,
                              verify=verify, hint=hint)
        meta_path = ws.catalogue_dir(method) / INFERENCE_META_FILE
        try:
            meta = read_json(meta_path, "catalogue inference meta", expect=dict, error=CatalogueError)
        except CatalogueError as e:
            raise IndexMismatchError(f"{e}; rebuild: {hint}") from None
        for key, path in (("predictions_sha256", ws.predictions_csv(method)),
                          ("embeddings_sha256", ws.embeddings_npy(method))):
            built_from = loaded.manifest.get(f"catalogue_{key}")
            if built_from is None or built_from != meta.get(key):
                raise IndexMismatchError(
                    f"indices in {ws.index_dir(method)} were built from another catalogue inference than "
                    f"{meta_path.parent} holds ({path.name} checksum differs); rebuild: {hint}")
        return loaded

    @classmethod
    def load_dir(cls, folder: Path, expected_checksum: str | None = None, use_gpu: bool | None = None,
                 verify: bool = True, hint: str = "rebuild the indices") -> "CategoryIndices":
        folder = Path(folder)
        mpath = folder / MANIFEST_FILE
        if not mpath.exists():
            raise IndexMismatchError(f"no index manifest at {mpath}; build the indices first ({hint})")
        manifest = read_json(mpath, "index manifest", expect=dict, error=IndexMismatchError, fix=f"rebuild: {hint}")
        entries = _check_manifest(manifest, mpath, hint)
        if expected_checksum is not None and manifest.get("model_checksum") != expected_checksum:
            raise IndexMismatchError(
                f"indices in {folder} were built for model checksum {str(manifest.get('model_checksum'))[:12]}…, "
                f"but the loaded model is {expected_checksum[:12]}…; the model changed since indexing ({hint})")
        indices, ids = {}, {}
        for c, e in entries.items():
            ipath, jpath = folder / e["index_file"], folder / e["ids_file"]
            for p, key in ((ipath, "index_sha256"), (jpath, "ids_sha256")):
                if not p.is_file():
                    raise IndexMismatchError(f"index file {p} for {c!r} is missing ({hint})")
                if verify and sha256_file(p) != e.get(key):
                    raise IndexMismatchError(f"index file {p} for {c!r} is corrupt: checksum differs from the "
                                             f"manifest ({hint})")
            try:
                idx = faiss.read_index(str(ipath))
            except Exception as ex:  # faiss raises RuntimeError on garbage
                raise IndexMismatchError(f"index file {ipath} for {c!r} cannot be read ({ex}); {hint}") from None
            id_list = read_json(jpath, f"id list of {c!r}", expect=list, error=IndexMismatchError,
                                fix=f"rebuild: {hint}")
            if idx.ntotal != e["count"] or len(id_list) != e["count"] or idx.d != manifest.get("embed_dim"):
                raise IndexMismatchError(f"index for {c!r} holds {idx.ntotal} vectors of dim {idx.d} and "
                                         f"{len(id_list)} ids; the manifest says {e['count']} of dim "
                                         f"{manifest.get('embed_dim')} ({hint})")
            _set_search_params(idx, e["factory"], e.get("ef_search"))
            indices[c] = idx
            ids[c] = np.asarray(id_list, dtype=object)
        return cls(indices, ids, manifest, use_gpu=use_gpu)

    # -- querying --------------------------------------------------------------------------------------------------
    @property
    def categories(self) -> list[str]:
        return list(self._search)

    def __contains__(self, category: str) -> bool:
        return category in self._search

    def count(self, category: str) -> int:
        return int(self._cpu[category].ntotal) if category in self._cpu else 0

    def search_local(self, category: str, query_vec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions within the category, Euclidean distances) of the ``k`` nearest; fewer if the category is small."""
        q = np.ascontiguousarray(np.asarray(query_vec, dtype=np.float32).reshape(1, -1))
        k = min(int(k), self.count(category))
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        d, i = self._search[category].search(q, k)
        ok = i[0] >= 0
        return i[0][ok], np.sqrt(np.maximum(d[0][ok], 0.0))

    def search(self, category: str, query_vec: np.ndarray, k: int,
               exclude: frozenset | set | None = None) -> tuple[list, np.ndarray]:
        """(item ids, Euclidean distances) of the ``k`` nearest items of ``category``; never ``exclude``."""
        if category not in self._search:
            return [], np.zeros(0, np.float32)
        extra = len(exclude) if exclude else 0
        pos, dist = self.search_local(category, query_vec, k + extra)
        ids = self.ids[category][pos]
        if extra:
            keep = np.array([x not in exclude for x in ids], dtype=bool)
            ids, dist = ids[keep], dist[keep]
        return list(ids[:k]), dist[:k]

    def vectors(self, category: str, positions: np.ndarray) -> np.ndarray:
        """Stored vectors of the given positions in ``category`` (for diversity re-ranking)."""
        idx = self._cpu[category]
        return np.stack([idx.reconstruct(int(p)) for p in positions]) if len(positions) else \
            np.zeros((0, idx.d), np.float32)

    def nbytes(self) -> int:
        """Serialized size of all indices (bytes)."""
        return int(sum(e.get("index_bytes") or faiss.serialize_index(self._cpu[c]).nbytes
                       for c, e in self.manifest["categories"].items()))


def index_inputs(ws: Workspace, method: str, config: IndexConfig = IndexConfig(),
                 expected_checksum: str | None = None) -> tuple[dict, dict, dict]:
    """(vectors by category, ids by category, manifest meta) of ``method``'s catalogue inference: what gets indexed.

    Each product goes into the index of its serving category (``category_source``: the catalogue's own category
    where it has one, else the predicted one). Products that are not product shots are not indexed (never served):
    the import's ``is_product_shot`` flag decides where it gives one, else a score below
    ``config.product_shot_threshold`` (``product_shot.served_as_product_shot``).
    ``expected_checksum``: refuse catalogue embeddings made by a different model.
    """
    preds, emb, meta = load_catalogue_inference(ws, method)
    if expected_checksum is not None and meta.get("model_checksum") != expected_checksum:
        raise IndexMismatchError(f"catalogue embeddings of {method!r} come from another model; "
                                 f"run catalogue inference again (python -m ctl_core index --model {method})")
    score = preds["product_shot_score"].to_numpy(dtype=float)
    flags = _import_flags(ws, preds["product_id"])
    shot = served_as_product_shot(score, flags, config.product_shot_threshold)
    vecs, ids = {}, {}
    serve_cat = serving_categories(preds)  # the shop's category where the catalogue has one, else the predicted
    shop = from_catalogue(preds)
    pid = preds["product_id"].to_numpy(dtype=object)
    for c in CATEGORIES:
        m = shot & (serve_cat == c)
        if m.any():
            vecs[c], ids[c] = emb[m], pid[m]
    below = score < config.product_shot_threshold
    return vecs, ids, {
        "category_source": {"catalogue": int(shop.sum()), "predicted": int((~shop).sum())},
        "category_disagreements": int((shop & (preds["category"].astype(str) != preds["pred_category"].astype(str))
                                       .to_numpy()).sum()),
        "served_by_import_flag": int((shot & below).sum()), "refused_by_import_flag": int((~shot & ~below).sum()),
        "method": method, "model": f"{method} ({meta.get('backbone')})", "backbone": meta.get("backbone"),
        "model_checksum": meta.get("model_checksum"), "items_total": int(len(preds)),
        "catalogue_predictions_sha256": meta.get("predictions_sha256"),
        "catalogue_embeddings_sha256": meta.get("embeddings_sha256"),
        "items_indexed": int(shot.sum()), "excluded_non_product_shots": int((~shot).sum())}


def _import_flags(ws: Workspace, product_ids) -> list[bool | None]:
    """Each product's ``is_product_shot`` from data/catalogue.csv (None where the source does not say)."""
    if not ws.catalogue_csv.exists():
        return [None] * len(product_ids)
    cat = read_catalogue(ws.catalogue_csv).drop_duplicates("product_id")
    flag = dict(zip(cat["product_id"], map(import_flag, cat["is_product_shot"])))
    return [flag.get(p) for p in product_ids]


def build_indices(ws: Workspace, method: str, progress: Progress | None = None,
                  config: IndexConfig = IndexConfig(), expected_checksum: str | None = None) -> dict:
    """One index per predicted category from the catalogue inference of ``method``; writes and returns the manifest.

    What is indexed: ``index_inputs``. The manifest is written last (``CategoryIndices.save``).
    """
    vecs, ids, meta = index_inputs(ws, method, config, expected_checksum)
    t0 = time.perf_counter()
    built = CategoryIndices.build(vecs, ids, config, meta=meta, progress=progress)
    built.manifest["build_s"] = round(time.perf_counter() - t0, 3)
    return built.save(ws.index_dir(method))
