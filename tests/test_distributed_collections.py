"""Whole collections under torchrun (2 CPU processes, gloo): exact evaluation, resumable sharded prediction."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from artlens import ModelConfig, evaluate, predict_collection, PredictCollectionConfig
from artlens.models import build_classifier, save_bundle

from .test_distributed import torchrun


@pytest.fixture(scope="module")
def odd_collection(tiny_tree, tmp_path_factory) -> Path:
    """7 real paintings in 3 styles (not divisible by 2 processes) and one broken file."""
    root = tmp_path_factory.mktemp("odd") / "styles"
    for style, n in (("Baroque", 3), ("Pop_Art", 2), ("Ukiyo_e", 2)):
        (root / style).mkdir(parents=True)
        for p in sorted((tiny_tree / style).iterdir())[:n]:
            shutil.copy(p, root / style / p.name)
    (root / "Pop_Art" / "broken.jpg").write_text("not a jpeg")
    return root


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    cfg = ModelConfig(backbone="tiny_cnn", pretrained="none")
    return save_bundle(build_classifier(cfg, 3), tmp_path_factory.mktemp("b") / "tiny",
                       classes=["Baroque", "Pop_Art", "Ukiyo_e"], model_cfg=cfg)


def test_evaluation_under_torchrun_is_the_single_process_report(odd_collection, bundle, tmp_path):
    single = evaluate(bundle, odd_collection, tmp_path / "one", split="all", device="cpu", num_workers=0,
                      show_progress=False)
    proc = torchrun(tmp_path, "evaluate", "--model", str(bundle), "--data", str(odd_collection), "--split", "all",
                    "--out", str(tmp_path / "two"), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "report.json").read_text())
    # Every image scored once (7, not 8 as with a padding sampler), the same numbers and the same skipped file.
    assert two["n_evaluated"] == single["n_evaluated"] == 7 and two["metrics"]["n"] == 7
    where = ("out", "cwd", "images_per_s")  # where each was written from, and how fast; the rest to the last digit
    one = json.loads((tmp_path / "one" / "report.json").read_text())
    assert {k: v for k, v in two.items() if k not in where} == {k: v for k, v in one.items() if k not in where}
    assert (tmp_path / "two" / "predictions.csv").read_text() == (tmp_path / "one" / "predictions.csv").read_text()
    assert proc.stdout.count("report:") == 1  # rank 0 alone prints the table


KILL_AFTER_ONE_SHARD = """
import os, sys
from artlens.cli.app import app
from artlens import sharded

real_write = sharded._write_shard

def write_then_die(*args, **kwargs):
    real_write(*args, **kwargs)
    if os.environ["RANK"] == "1":  # as a pre-empted machine: gone at once, no clean-up
        print("killed after a shard", file=sys.stderr, flush=True)
        os._exit(1)

sharded._write_shard = write_then_die
app(sys.argv[1:])
"""


def test_a_killed_sharded_prediction_resumes_and_writes_every_image_once(odd_collection, bundle, tmp_path):
    out = tmp_path / "labels"
    args = ["predict", str(odd_collection), "--model", str(bundle), "--out", str(out), "--shard-size", "2",
            "--device", "cpu", "--workers", "0"]
    script = tmp_path / "kill_after_one_shard.py"
    script.write_text(KILL_AFTER_ONE_SHARD)
    killed = torchrun(tmp_path, *args, entry=[str(script)])
    assert killed.returncode != 0 and "killed after a shard" in killed.stderr
    assert not (out / "predictions.parquet").exists()
    written = sorted(p.name for p in (out / "shards").glob("*.parquet"))
    assert written and len(written) < 4  # 8 files in shards of 2: rank 1 wrote one of its two

    resumed = torchrun(tmp_path, *args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["shards_resumed"] == len(written) and summary["n_shards"] == 4
    assert f"({len(written)} shard(s) kept from an earlier run)" in resumed.stdout

    table = pq.read_table(out / "predictions.parquet")
    readable = sorted(str(p) for p in odd_collection.rglob("*.jpg") if p.name != "broken.jpg")
    assert sorted(table.column("path").to_pylist()) == readable  # every image exactly once
    assert summary["n_skipped"] == 1 and (out / "skipped.tsv").read_text().startswith(str(odd_collection / "Pop_Art" / "broken.jpg"))

    # The same rows as one process labelling the collection in one go.
    alone = predict_collection(PredictCollectionConfig(data=str(odd_collection), out=str(tmp_path / "alone"),
                                                       model=str(bundle), shard_size=3, device="cpu", num_workers=0),
                               show_progress=False)
    expected = pq.read_table(alone.merged)
    assert table.column("path").to_pylist() == expected.column("path").to_pylist()
    assert table.column("top_labels").to_pylist() == expected.column("top_labels").to_pylist()
    assert table.column("sha256").to_pylist() == expected.column("sha256").to_pylist()
