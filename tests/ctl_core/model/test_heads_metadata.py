"""The style head's metadata side input: vocabulary, unknown token, dropout, run-folder round trip."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ctl_core.config import Workspace
from ctl_core.data.metadata import MetadataError, MetadataVocab, product_metadata
from ctl_core.data.tables import CATALOGUE_COLUMNS, write_table
from ctl_core.model.ctl_model import load_model, save_run
from ctl_core.model.heads import CTLHeads, HeadsConfig


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"product_type": ["Ankle boots", "ankle  BOOTS", "Trousers", "Trousers", "Scarf"],
                         "colour": ["Black", "black", "Camel", "", "Black"]})


def test_vocab_counts_normalises_and_maps_rare_and_unseen_to_unknown():
    vocab = MetadataVocab.build(_frame(), ("product_type", "colour"), min_count=2)
    assert vocab.values == (("ankle boots", "trousers"), ("black",))  # Scarf, Camel seen once: unknown
    assert vocab.sizes == (3, 2)
    codes = vocab.encode(pd.DataFrame({"product_type": ["Trousers", "Sandals", ""], "colour": ["BLACK", "red", ""]}))
    assert codes.tolist() == [[2, 1], [0, 0], [0, 0]]
    assert vocab.encode(None, n=2).tolist() == [[0, 0], [0, 0]]
    assert MetadataVocab.from_dict(vocab.to_dict()) == vocab
    with pytest.raises(MetadataError, match="no metadata column"):
        MetadataVocab.build(_frame(), ("fabric",))


def test_heads_without_metadata_are_unchanged_and_unknown_is_the_default():
    plain = CTLHeads(HeadsConfig(in_dim=8))
    assert not plain.uses_metadata and plain.metadata_codes(_frame()) is None
    assert all(not k.startswith("meta_embed") for k in plain.state_dict())

    torch.manual_seed(0)
    vocab = MetadataVocab.build(_frame(), ("product_type", "colour"))
    heads = CTLHeads(HeadsConfig(in_dim=8, metadata=vocab, meta_dim=4)).eval()
    x = torch.randn(5, 8)
    heads.input_norm.train()
    heads.input_norm(x)  # give the input norm statistics
    heads.eval()
    codes = heads.metadata_codes(_frame())
    with_meta, without = heads.embed(x, codes), heads.embed(x)
    assert with_meta.shape == (5, 128) and torch.allclose(with_meta.norm(dim=1), torch.ones(5))
    assert torch.allclose(without, heads.embed(x, np.zeros((5, 2), np.int64)))  # None == all fields unknown
    assert not torch.allclose(with_meta[:3], without[:3])  # the metadata moves the embedding
    with pytest.raises(ValueError, match="metadata codes must be"):
        heads.embed(x, np.zeros((5, 3), np.int64))


def test_metadata_dropout_hides_whole_rows_in_training_only():
    vocab = MetadataVocab.build(_frame(), ("product_type", "colour"))
    heads = CTLHeads(HeadsConfig(in_dim=8, metadata=vocab, meta_dim=4, meta_dropout=1.0))
    x = torch.randn(5, 8)
    codes = torch.as_tensor(heads.metadata_codes(_frame()))
    heads.train()
    seen = heads._style_input(x, codes)[:, 8:]
    unknown = heads._style_input(x, torch.zeros_like(codes))[:, 8:]
    assert torch.equal(seen, unknown)
    heads.eval()
    assert not torch.equal(heads._style_input(x, codes)[:, 8:], unknown)


def test_metadata_heads_round_trip_through_a_run_folder(tmp_path):
    ws = Workspace.at(tmp_path)
    vocab = MetadataVocab.build(_frame(), ("product_type", "colour"))
    heads = CTLHeads(HeadsConfig(in_dim=64, metadata=vocab, meta_dim=4, meta_dropout=0.3)).eval()
    save_run(ws.model_dir("triplet-category"), heads, "tiny-cnn", {"method": "triplet-category"},
             extra={"backbone_pretrained": False})
    model = load_model(ws, "triplet-category", device="cpu")
    assert model.heads.config == heads.config and model.heads.uses_metadata
    x = torch.randn(3, 64)
    codes = heads.metadata_codes(_frame().head(3))
    assert torch.allclose(model.heads.embed(x, codes), heads.embed(x, codes), atol=1e-6)


def test_product_metadata_joins_items_to_the_catalogue(tmp_path):
    ws = Workspace.at(tmp_path).ensure()
    cat = pd.DataFrame({"product_id": ["p1", "p2"], "category": ["Shoes", "Pants"], "price": [1.0, 2.0],
                        "title": ["a", "b"], "image_path": ["a.jpg", "b.jpg"], "source": "outfits",
                        "is_product_shot": True, "theme": "", "colour": ["Black", "Camel"], "group_id": "",
                        "product_type": ["Ankle boots", "Trousers"], "fabric": ["", "P-PLANA"]})
    write_table(cat, ws.catalogue_csv, CATALOGUE_COLUMNS)
    meta = product_metadata(ws, ["p2", "nope", "p1"], ("product_type", "colour"))
    assert meta.to_dict("list") == {"product_type": ["Trousers", "", "Ankle boots"], "colour": ["Camel", "", "Black"]}
