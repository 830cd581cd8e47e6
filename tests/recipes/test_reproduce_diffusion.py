"""The study's diffusion experiments as recipes: ``artlens reproduce`` trains, classifies zero-shot and
puts the study's accuracy beside ours, here on a miniature ArtBench-10 32 px python release of real paintings."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from artlens.errors import ArtlensError
from artlens.recipes import ReproduceOptions, load_recipe, reproduce
from artlens.recipes.diffusion import diffusion_configs

STYLES = ["art_nouveau", "baroque", "expressionism", "impressionism", "post_impressionism", "realism", "renaissance",
          "romanticism", "surrealism", "ukiyo_e"]


@pytest.fixture(scope="module")
def artbench_python(artdata, tmp_path_factory):
    """CIFAR-style batches: 2 ukiyo_e (real Ukiyo-e) and 2 surrealism (real Pointillism, as unlike) per batch."""
    root = tmp_path_factory.mktemp("ab32") / "artbench-10-python" / "artbench-10-batches-py"
    root.mkdir(parents=True)
    pools = {s: sorted((artdata / "wikiart11" / src).glob("*.jpg"))[:12]
             for s, src in (("ukiyo_e", "Ukiyo_e"), ("surrealism", "Pointillism"))}
    with (root / "meta").open("wb") as f:
        pickle.dump({"styles": STYLES}, f)
    for k, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        picked = [(s, pools[s][2 * k + j]) for s in pools for j in range(2)]
        data = np.stack([np.asarray(Image.open(p).convert("RGB").resize((32, 32))).transpose(2, 0, 1).reshape(-1)
                         for _, p in picked])
        with (root / name).open("wb") as f:
            pickle.dump({"data": data, "labels": [STYLES.index(s) for s, _ in picked]}, f)
    return root.parent


@pytest.mark.parametrize("name, reported", [("artbench-binary-diffusion", 0.81), ("artbench-10class-diffusion", 0.28)])
def test_the_diffusion_recipes_hold_the_studys_setting_and_numbers(name, reported):
    recipe = load_recipe(name)
    assert recipe.kind == "diffusion" and recipe.study.reported == {"accuracy": reported}
    train, classify = diffusion_configs(recipe.config, data="ROOT")
    assert (train.size, train.timesteps, train.schedule, train.dataset) == (32, 4000, "cosine", "artbench10")
    assert train.unet.attention_resolutions  # the study's best UNet had self-attention
    with pytest.raises(ArtlensError, match="not a classifier"):
        recipe.train_config()  # so `artlens tune` and `train --config` refuse it in one line


def test_reproduce_trains_classifies_and_puts_the_study_beside_ours(artbench_python, tmp_path):
    tiny = {"train.unet": {"base_channels": 8, "channel_mults": [1], "num_res_blocks": 1, "attention_resolutions": []},
            "train.steps": 3, "train.batch_size": 4, "train.sample_every": 3, "train.samples_per_class": 1,
            "train.sample_steps": 2, "train.timesteps": 50, "train.dataset_options.cache_dir": str(tmp_path / "cache"),
            "classify.samples": [2]}
    opts = ReproduceOptions(data=str(artbench_python), out=str(tmp_path / "run"), device="cpu", overrides=tiny)
    result = reproduce("artbench-binary-diffusion", opts, show_progress=False)
    assert result.rows[0]["metric"] == "accuracy" and result.rows[0]["study"] == 0.81
    assert 0 <= result.rows[0]["ours"] <= 1
    report = json.loads((result.out / "report.json").read_text())
    assert report["classes"] == ["surrealism", "ukiyo_e"]
    assert report["test"]["n"] == 4  # the publisher's test batch: 2 per style
    meta = json.loads((result.bundle / "artlens.json").read_text())
    assert meta["task"] == "diffusion" and meta["data"]["dataset"] == "artbench10"
    for name in ("study.md", "study.png", "per_class.csv", "eval/confusion_matrix.png", "samples/step000003.png"):
        assert (result.out / name).is_file(), name
    with pytest.raises(ArtlensError, match="--epochs and --weights do not apply"):
        reproduce("artbench-binary-diffusion", ReproduceOptions(data=str(artbench_python), epochs=2))
