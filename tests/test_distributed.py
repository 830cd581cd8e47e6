"""Data-parallel training: two CPU processes under torchrun (gloo) train one model together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from artlens.train.distributed import init_distributed


def torchrun(tmp_path: Path, *args: str, entry: list[str] | None = None) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node 2 -m artlens ARGS`` on CPU (gloo)."""
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           *(entry or ["-m", "artlens"]), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)


def torchrun_train(tmp_path: Path, *args: str, entry: list[str] | None = None) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node 2 -m artlens train ARGS`` on CPU (gloo)."""
    return torchrun(tmp_path, "train", *args, "--workers", "0", "--batch-size", "4", "--device", "cpu", entry=entry)


def test_without_torchrun_training_stays_a_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx, device = init_distributed("auto")
    assert (ctx.enabled, ctx.is_main, ctx.world_size, device) == (False, True, 1, "auto")


def test_two_processes_share_each_epoch_and_write_one_run(tiny_tree, tmp_path):
    out = tmp_path / "ddp"
    proc = torchrun_train(tmp_path, "--data", str(tiny_tree), "--backbone", "tiny_cnn", "--strategy", "scratch",
                          "--epochs", "2", "--out", str(out), "--lr", "0.01")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    n_train = sum(report["counts"]["train"].values())
    # Each process trains on its half; the history counts the whole epoch once, not once per process.
    assert [row["train_images"] for row in report["history"]] == [n_train + n_train % 2] * 2
    assert len((out / "metrics.csv").read_text().strip().splitlines()) == 1 + 2
    assert proc.stderr.count("done:") == 1
    assert (out / "model" / "model.safetensors").is_file()


def test_frozen_cache_is_computed_in_shards_by_both_processes_and_joined_once(tiny_tree, tiny_weights, tmp_path):
    from safetensors.torch import load_file

    from artlens import TrainConfig
    from artlens.models import build_classifier
    from artlens.train.features import embed_samples
    from artlens.train.loop import prepare_data

    out = tmp_path / "ddp-frozen"
    proc = torchrun_train(tmp_path, "--data", str(tiny_tree), "--backbone", "tiny_cnn", "--weights",
                          str(tiny_weights), "--strategy", "frozen", "--epochs", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    caches = sorted(p.name.split("-")[0] for p in (out / "features").glob("*.safetensors"))
    assert caches == ["train", "val"]  # the per-process parts are joined and removed
    report = json.loads((out / "report.json").read_text())
    # The joined cache is what one process embedding every training image in order computes.
    cfg = TrainConfig.from_dict(report["config"])
    collection, _ = prepare_data(cfg, show_progress=False)
    model = build_classifier(cfg.model, len(collection.classes))
    alone = embed_samples(model, collection.split("train"), collection.classes, cache_dir=tmp_path / "alone",
                          name="train", show_progress=False)
    joined = load_file(str(next((out / "features").glob("train-*.safetensors"))))
    assert torch.equal(joined["labels"], alone.labels)
    assert torch.allclose(joined["features"], alone.features, atol=1e-5)
    # The head trains on the whole cache in every process (no sharding, so no double counting).
    assert [row["train_images"] for row in report["history"]] == [sum(report["counts"]["train"].values())] * 2
    assert proc.stderr.count("done:") == 1


KILL_AFTER_TWO_EPOCHS = """
import sys
from artlens.cli.app import app
from artlens.train import loop

real_save, saves = loop.save_checkpoint, []

def save_then_die(state, path):
    real_save(state, path)
    saves.append(path)
    if len(saves) == 2:
        raise SystemExit("killed after epoch 2")

loop.save_checkpoint = save_then_die
app(sys.argv[1:])
"""


def test_a_killed_distributed_run_resumes_to_the_same_weights(tiny_tree, tmp_path):
    from safetensors.torch import load_file

    args = ["--data", str(tiny_tree), "--backbone", "tiny_cnn", "--strategy", "scratch", "--epochs", "3",
            "--lr", "0.01", "--augment", "flip-rotate"]
    straight = torchrun_train(tmp_path, *args, "--out", str(tmp_path / "straight"))
    assert straight.returncode == 0, straight.stderr[-3000:]

    script = tmp_path / "kill_after_two.py"
    script.write_text(KILL_AFTER_TWO_EPOCHS)
    killed = torchrun_train(tmp_path, *args, "--out", str(tmp_path / "killed"), entry=[str(script)])
    assert killed.returncode != 0 and "killed after epoch 2" in killed.stderr

    resumed = torchrun_train(tmp_path, *args, "--out", str(tmp_path / "killed"), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    report = json.loads((tmp_path / "killed" / "report.json").read_text())
    assert [row["epoch"] for row in report["history"]] == [1, 2, 3]
    assert "epoch 3 [scratch]" in resumed.stderr and "epoch 1 [scratch]" not in resumed.stderr  # only epoch 3 ran
    a = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "model" / "model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_a_study_reproduced_under_torchrun_is_reported_and_written_once(tiny_tree, tmp_path):
    proc = torchrun(tmp_path, "reproduce", "pandora-hybrid", "--data", str(tiny_tree), "--subset", "3", "--epochs", "1",
                    "--image-size", "32", "--out", str(tmp_path / "run"), "--device", "cpu", "--set", "data.num_workers=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("study vs ours: pandora-hybrid") == 1 and proc.stdout.count("results:") == 1
    assert json.loads((tmp_path / "run" / "study.json").read_text())["recipe"] == "pandora-hybrid"
