"""A product's own metadata (type, colour, fabric, identity) as side input to the style head: vocabularies, codes.

The importers store what a shop says about each product in catalogue.csv (``product_type``, ``colour``,
``fabric``; see ctl_core.data.tables). Stylists build outfits with exactly these in mind (a camel coat with brown
ankle boots), so the style head may take them beside the image feature (ctl_core.model.heads).

A ``MetadataVocab`` maps each field's values to codes 1..V; code 0 is "unknown": a value never seen in training
(or seen fewer than ``min_count`` times), an empty cell, or an uploaded photo, which has no metadata at all. The
vocabulary is built from the TRAINING products only and travels inside the heads' config (config.json), so
serving encodes a catalogue product exactly as training did.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ctl_core.config import Workspace
from ctl_core.data.tables import read_catalogue

# catalogue.csv columns a style head may take. ``group_id`` (the model: colour variants share it) and ``product_id``
# (the product itself) are identities, not descriptions: their embeddings learn from the training outfits which
# products a product was worn with (collaborative signal), and only products seen in training have a code.
METADATA_FIELDS: tuple[str, ...] = ("product_type", "colour", "fabric", "group_id", "product_id")
UNKNOWN = 0


class MetadataError(ValueError):
    """Metadata asked for that the workspace does not have (the message says which field and what to do)."""


def normalise(value: object) -> str:
    """The form values are compared in: trimmed, lower case, inner whitespace collapsed ('' for missing)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return " ".join(str(value).split()).lower()


@dataclass(frozen=True)
class MetadataVocab:
    """Per field, the known values in code order (code i + 1 is ``values[f][i]``; 0 is unknown)."""

    fields: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:  # JSON gives lists: store tuples, so the config stays hashable and frozen
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "values", tuple(tuple(v) for v in self.values))
        if len(self.fields) != len(self.values):
            raise MetadataError(f"metadata vocabulary has {len(self.fields)} fields but {len(self.values)} value lists")

    @classmethod
    def build(cls, frame: pd.DataFrame, fields: Sequence[str], min_count: int = 2) -> "MetadataVocab":
        """Values seen at least ``min_count`` times per field of ``frame`` (the training rows), most frequent first."""
        missing = [f for f in fields if f not in frame.columns]
        if missing:
            raise MetadataError(f"no metadata column(s) {missing}; known fields: {', '.join(METADATA_FIELDS)}")
        values = []
        for f in fields:
            counts = Counter(v for v in map(normalise, frame[f].tolist()) if v)
            values.append(tuple(v for v, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count))
        return cls(tuple(fields), tuple(values))

    @property
    def sizes(self) -> tuple[int, ...]:
        """Embedding rows per field: the known values plus the unknown code 0."""
        return tuple(len(v) + 1 for v in self.values)

    def encode(self, frame: pd.DataFrame | None, n: int | None = None) -> np.ndarray:
        """(N, fields) int64 codes of ``frame``'s rows; ``frame=None`` gives N rows of unknown (``n`` required)."""
        if frame is None:
            if n is None:
                raise ValueError("encode(None) needs n, the number of rows")
            return np.zeros((n, len(self.fields)), np.int64)
        out = np.zeros((len(frame), len(self.fields)), np.int64)
        for j, (f, vals) in enumerate(zip(self.fields, self.values)):
            if f not in frame.columns:
                continue  # a source without this field: unknown
            lookup = {v: i + 1 for i, v in enumerate(vals)}
            out[:, j] = [lookup.get(normalise(v), UNKNOWN) for v in frame[f].tolist()]
        return out

    def known_share(self, frame: pd.DataFrame) -> dict[str, float]:
        """Per field, the share of ``frame``'s rows with a known code (how much metadata a source brings)."""
        codes = self.encode(frame)
        return {f: float((codes[:, j] != UNKNOWN).mean()) if len(codes) else float("nan")
                for j, f in enumerate(self.fields)}

    def to_dict(self) -> dict:
        return {"fields": list(self.fields), "values": [list(v) for v in self.values]}

    @classmethod
    def from_dict(cls, d: dict) -> "MetadataVocab":
        return cls(tuple(d["fields"]), tuple(tuple(v) for v in d["values"]))


def product_metadata(ws: Workspace, product_ids: Sequence[str], fields: Sequence[str] = METADATA_FIELDS,
                     catalogue: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``fields`` of each product id (catalogue.csv), one row per id in order; '' for ids not in the catalogue.

    Items (items.csv rows) carry a ``product_id`` but not the shop's metadata; this joins them to it.
    """
    cat = read_catalogue(ws.catalogue_csv) if catalogue is None else catalogue
    unknown = [f for f in fields if f not in cat.columns]
    if unknown:
        raise MetadataError(f"{ws.catalogue_csv} has no column(s) {unknown}; re-import the source")
    table = cat.drop_duplicates("product_id").set_index("product_id", drop=False)[list(fields)]
    ids = pd.Index([str(p) for p in product_ids])
    return table.reindex(ids).fillna("").reset_index(drop=True)


__all__ = ["METADATA_FIELDS", "UNKNOWN", "MetadataError", "MetadataVocab", "normalise", "product_metadata"]
