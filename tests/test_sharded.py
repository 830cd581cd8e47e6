"""Sharded whole-collection runs in one process: any fsspec URL as output, and no mixing of two requests."""

from __future__ import annotations

import pytest
import torch

from artlens import ArtlensError, ModelConfig, PredictCollectionConfig, predict_collection
from artlens.models import build_classifier, save_bundle
from artlens.sharded import read_rows


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.manual_seed(0)
    cfg = ModelConfig(backbone="tiny_cnn", pretrained="none")
    return save_bundle(build_classifier(cfg, 3), tmp_path_factory.mktemp("b") / "tiny",
                       classes=["Baroque", "Pop_Art", "Ukiyo_e"], model_cfg=cfg)


def test_unmerged_shards_on_an_fsspec_url_read_back_as_one_table(tiny_tree, bundle):
    cfg = PredictCollectionConfig(data=str(tiny_tree), out="memory://artlens-test/labels", model=str(bundle),
                                  shard_size=7, merge=False, device="cpu", num_workers=0, top_k=2)
    run = predict_collection(cfg, show_progress=False)
    assert (run.merged, run.n_shards, run.n_rows, run.n_skipped) == (None, 5, 30, 0)
    table = read_rows(cfg.out, "predictions.parquet")  # the shards, as pyarrow reads a dataset of files
    assert sorted(table.column("path").to_pylist()) == sorted(str(p) for p in tiny_tree.rglob("*.jpg"))
    assert all(len(labels) == 2 for labels in table.column("top_labels").to_pylist())
    assert table.schema.field("probs").type.list_size == 3
    assert all(len(h) == 64 for h in table.column("sha256").to_pylist())


def test_a_folder_holding_another_request_is_refused_before_any_work(tiny_tree, bundle, tmp_path, monkeypatch):
    from artlens import sharded

    out = tmp_path / "labels"
    common = dict(data=str(tiny_tree), out=str(out), model=str(bundle), device="cpu", num_workers=0)
    predict_collection(PredictCollectionConfig(shard_size=10, **common), show_progress=False)
    monkeypatch.setattr(sharded, "_write_shard", lambda *a, **k: pytest.fail("wrote a shard"))
    with pytest.raises(ArtlensError, match=r"holds a run with another shard_size \(10 vs 8\)"):
        predict_collection(PredictCollectionConfig(shard_size=8, **common), show_progress=False)
    with pytest.raises(ArtlensError, match=r"holds a run with another model or other options .*'precision': 'bf16'"):
        predict_collection(PredictCollectionConfig(shard_size=10, precision="bf16", **common), show_progress=False)
    again = predict_collection(PredictCollectionConfig(shard_size=10, **common), show_progress=False)
    assert again.shards_resumed == again.n_shards == 3 and again.n_rows == 30  # finished: nothing to redo
