"""CycleGAN under torchrun: two CPU processes (gloo) train one pair of generators and rank 0 writes."""

from __future__ import annotations

import csv

from safetensors.torch import load_file

from ..test_distributed import torchrun


def test_two_processes_train_one_cyclegan(domains, tmp_path):
    photos, paintings = domains
    out = tmp_path / "ddp"
    proc = torchrun(tmp_path, "cyclegan", "train", "--a", str(photos), "--b", str(paintings), "--out", str(out),
                    "--steps", "2", "--size", "32", "--load-size", "36", "--ngf", "4", "--ndf", "4", "--n-blocks", "1",
                    "--checkpoint-every", "1", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["step"] for r in csv.DictReader((out / "log.csv").open())] == ["1", "2"]  # each step logged once
    weights = load_file(str(out / "model" / "model.safetensors"))
    assert {k.split(".")[0] for k in weights} == {"a2b", "b2a"}
