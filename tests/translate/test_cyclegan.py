"""CycleGAN, used as a user would: train on real photos and paintings, resume, apply at any size, tiled."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from artlens.errors import ArtlensError
from artlens.style import open_image
from artlens.train.generative import GenerativeTrainer
from artlens.translate import (CycleGANTask, TranslateConfig, Translator, find_translators, read_translator_meta,
                               train_cyclegan, translate_images)
from artlens.style.images import to_tensor
from artlens.translate.apply import _starts, fixed_norm, norm_statistics, run_padded, run_tiled
from artlens.translate.networks import to_signed
from artlens.train.crops import RandomCrops
from artlens.translate.cyclegan import domain_files
from artlens.translate.networks import ImagePool

from .conftest import tiny_config


def _task(domains, tmp_path, **overrides) -> CycleGANTask:
    cfg = tiny_config(domains, tmp_path, **overrides)
    a = RandomCrops(domain_files(cfg.a, "a"), cfg.size, cfg.load_size, torch.Generator().manual_seed(0), flip=True)
    b = RandomCrops(domain_files(cfg.b, "b"), cfg.size, cfg.load_size, torch.Generator().manual_seed(1), flip=True)
    torch.manual_seed(0)
    return CycleGANTask(cfg, a=a, b=b, device=torch.device("cpu"))


def test_one_training_step_lowers_the_losses_on_a_fixed_batch(domains, tmp_path):
    """One engine step (generators, then discriminators) on 4 real photos and 4 paintings: the
    generators' loss and the discriminators' loss on that same batch both go down."""
    task = _task(domains, tmp_path, batch_size=4, pool_size=0, lr=2e-3)
    batch = task.next_batch()
    task.next_batch = lambda: batch  # the fixed batch

    def losses():
        with torch.no_grad():
            out = task.training_step(batch, task.models)
        return float(out["g"]), float(out["d"])

    g0, d0 = losses()
    GenerativeTrainer(task, out=tmp_path / "run", steps=1).fit()
    g1, d1 = losses()
    assert g1 < g0 and d1 < d0, (g0, g1, d0, d1)


def test_training_writes_the_bundle_grids_curves_and_log(domains, tmp_path):
    result = train_cyclegan(tiny_config(domains, tmp_path / "run", identity_weight=0.0))
    meta = read_translator_meta(result.bundle)
    assert meta["task"] == "image-translation"
    assert meta["generator"] == {"kind": "resnet", "ngf": 8, "n_blocks": 2, "upsample": "transpose"}  # the paper's
    assert "(6 images)" in meta["domains"]["a"] and meta["steps"] == 4
    keys = load_file(str(result.bundle / "model.safetensors"))
    assert {k.split(".")[0] for k in keys} == {"a2b", "b2a"}  # both generators, no discriminator
    grids = sorted(p.name for p in result.samples.glob("*.png"))
    assert grids == ["step000002.png", "step000004.png"]
    with Image.open(result.samples / grids[0]) as grid:  # 3 rows of A, A->B, A->B->A, B, B->A, B->A->B
        assert grid.size == (6 * 34 + 2, 3 * 34 + 2)
    assert result.curves.is_file()
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"] and float(rows[0]["idt_a"]) == 0.0
    assert float(rows[-1]["lr_g"]) < float(rows[0]["lr_g"])  # the linear decay of the last half


def test_a_killed_run_resumes_bit_for_bit(domains, tmp_path):
    """Killed at step 3 (last checkpoint: step 2) with a full image pool and an EMA, resumed: the same
    generators, bit for bit, as the uninterrupted run (the pools, crops and flips are checkpointed)."""
    overrides = {"pool_size": 1, "ema_decay": 0.5, "steps": 4}
    straight = train_cyclegan(tiny_config(domains, tmp_path / "straight", **overrides))

    def die(step, _steps, _losses):
        if step == 3:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        train_cyclegan(tiny_config(domains, tmp_path / "killed", **overrides), callback=die)
    resumed = train_cyclegan(tiny_config(domains, tmp_path / "killed", resume=True, **overrides))
    a, b = (load_file(str(r.bundle / "model.safetensors")) for r in (straight, resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = [r["step"] for r in csv.DictReader((tmp_path / "killed" / "log.csv").open())]
    assert rows == ["1", "2", "3", "4"]
    with pytest.raises(ArtlensError, match="n-blocks"):  # another architecture cannot continue it
        train_cyclegan(tiny_config(domains, tmp_path / "killed", resume=True, n_blocks=3, steps=6))


def test_resize_upsampling_trains_into_a_bundle_that_says_so_and_paints_any_size(domains, artdata, tmp_path):
    result = train_cyclegan(tiny_config(domains, tmp_path / "run", upsample="resize", steps=2))
    assert read_translator_meta(result.bundle)["generator"]["upsample"] == "resize"
    keys = load_file(str(result.bundle / "model.safetensors"))
    assert any(k.endswith(".conv.weight") for k in keys)  # a convolution after each doubling
    photo = open_image(sorted((artdata / "photos_ccby").glob("*.jpg"))[0]).resize((37, 53))
    assert Translator.load(result.bundle).translate(photo, direction="a2b").size == (37, 53)
    with pytest.raises(ArtlensError, match="upsample"):  # it cannot continue as the other kind
        train_cyclegan(tiny_config(domains, tmp_path / "run", upsample="transpose", steps=4, resume=True))
    with pytest.raises(ArtlensError, match="--upsample 'bilinear'"):
        tiny_config(domains, tmp_path / "x", upsample="bilinear")


def test_a_checkpoint_from_before_the_upsample_option_resumes_as_the_papers_generator(domains, tmp_path):
    train_cyclegan(tiny_config(domains, tmp_path / "run", steps=2))
    path = tmp_path / "run" / "checkpoint.pt"
    state = torch.load(path, weights_only=False)
    del state["info"]["upsample"]  # as written before the option existed
    torch.save(state, path)
    resumed = train_cyclegan(tiny_config(domains, tmp_path / "run", steps=4, resume=True))
    assert resumed.steps == 4 and read_translator_meta(resumed.bundle)["generator"]["upsample"] == "transpose"


def test_a_bundle_from_before_the_upsample_option_loads_as_the_papers_generator(translator_bundle, artdata, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(translator_bundle, old)
    meta = json.loads((old / "artlens.json").read_text())
    del meta["generator"]["upsample"]
    (old / "artlens.json").write_text(json.dumps(meta))
    photo = open_image(sorted((artdata / "photos_ccby").glob("*.jpg"))[0]).resize((64, 48))
    assert np.array_equal(np.asarray(Translator.load(old).translate(photo)),
                          np.asarray(Translator.load(translator_bundle).translate(photo)))
    meta["generator"]["upsample"] = "bilinear"  # unknown: a one-line error naming the file, not a traceback
    (old / "artlens.json").write_text(json.dumps(meta))
    with pytest.raises(ArtlensError, match=r"old/artlens.json: generator upsample 'bilinear' is not one of"):
        Translator.load(old)


@pytest.mark.parametrize("size", [(37, 53), (101, 75), (3, 5)])
def test_output_size_equals_input_size_for_odd_sizes(translator_bundle, artdata, size):
    photo = open_image(sorted((artdata / "photos_ccby").glob("*.jpg"))[0]).resize(size)
    painter = Translator.load(translator_bundle)
    assert painter.translate(photo, direction="a2b").size == size
    assert painter.translate(photo, direction="b2a", tile=32, overlap=8).size == size  # tiled too


def _interior_edges(length: int, tile: int, overlap: int) -> list[int]:
    starts = _starts(length, tile, tile - overlap)
    return sorted({s for s in starts if s > 0} | {s + tile for s in starts if s + tile < length})


@pytest.mark.parametrize("bundle", ["translator_bundle", "resize_translator_bundle"])
def test_tiled_and_untiled_runs_agree_away_from_tile_borders(bundle, artdata, request):
    """A 320x256 photo in 128 px tiles overlapping by 32 px: farther than the generator's reach (about 31 px
    for these, with either upsampling) from every tile edge, the tiled result equals the whole-image one;
    near the edges the feathered blend stays close. Normalising each tile by its own statistics, rather
    than the whole image's, is what would make the seams show."""
    photo = open_image(sorted((artdata / "photos_ccby").glob("*.jpg"))[1]).resize((320, 256))
    net = Translator.load(request.getfixturevalue(bundle)).generators["a2b"]
    x = to_signed(to_tensor(photo))
    with torch.no_grad():
        whole = run_padded(net, x)
        tiled = run_tiled(net, x, tile=128, overlap=32)
    diff = (whole - tiled).abs()[0].amax(0)  # per pixel, over the channels
    far = torch.ones_like(diff, dtype=torch.bool)
    margin = 32
    for e in _interior_edges(256, 128, 32):
        far[max(0, e - margin):e + margin, :] = False
    for e in _interior_edges(320, 128, 32):
        far[:, max(0, e - margin):e + margin] = False
    assert int(far.sum()) >= 64 * 64
    assert float(diff[far].max()) < 1e-4
    assert float(diff.mean()) < 0.02, float(diff.mean())
    # The same halves, each normalised by its own statistics: far from the seam too, the result differs.
    with torch.no_grad():
        own = torch.cat([run_padded(net, x[..., :160]), run_padded(net, x[..., 160:])], dim=-1)
        with fixed_norm(net, norm_statistics(net, x)):
            shared = torch.cat([run_padded(net, x[..., :160]), run_padded(net, x[..., 160:])], dim=-1)
    left = (slice(None), slice(None), slice(None), slice(0, 96))
    assert float((whole - shared)[left].abs().max()) < 1e-4 < float((whole - own)[left].abs().mean())


def test_apply_writes_full_size_pngs_and_skips_unreadable_files(translator_bundle, domains, tmp_path):
    photos, _ = domains
    inputs = tmp_path / "in"
    inputs.mkdir()
    for p in sorted(photos.glob("*.jpg"))[:2]:
        (inputs / p.name).write_bytes(p.read_bytes())
    (inputs / "broken.jpg").write_bytes(b"not a jpeg")
    result = translate_images([inputs], TranslateConfig(model=str(translator_bundle), out=str(tmp_path / "out"),
                                                        tile=128, overlap=16))
    assert len(result.written) == 2 and [p.name for p, _ in result.skipped] == ["broken.jpg"]
    for src, dst in result.written:
        with Image.open(src) as a, Image.open(dst) as b:
            assert a.size == b.size and dst.name.endswith("_a2b.png")


def test_bundles_and_inputs_are_checked(translator_bundle, domains, tmp_path):
    from artlens.models import default_bundle_path, load_bundle

    with pytest.raises(ArtlensError, match="classification bundle, not an image-translation"):
        Translator.load(default_bundle_path())
    assert find_translators(translator_bundle.parent.parent) == [translator_bundle]
    with pytest.raises(ArtlensError, match="is an image-translation bundle, not a classifier"):
        load_bundle(translator_bundle)  # artlens predict --model RUN/model says what it was given
    with pytest.raises(ArtlensError, match="--b .*no such folder"):
        train_cyclegan(tiny_config(domains, tmp_path / "x", b=[str(tmp_path / "missing")]))
    with pytest.raises(ArtlensError, match="multiple of 4"):
        tiny_config(domains, tmp_path / "x", size=30)
    with pytest.raises(ArtlensError, match="--direction"):
        TranslateConfig(model="m", direction="sideways")


def test_manifests_and_several_folders_make_one_domain(domains, tmp_path):
    photos, paintings = domains
    manifest = tmp_path / "photos.csv"
    names = sorted(p.name for p in photos.glob("*.jpg"))[:3]
    manifest.write_text("path,author\n" + "".join(f"{photos / n},someone\n" for n in names))
    assert domain_files([str(manifest), str(paintings)], "a")[:3] == [photos / n for n in names]
    assert len(domain_files([str(manifest), str(paintings)], "a")) == 3 + 6


def test_the_image_pool_returns_earlier_fakes_once_full():
    torch.manual_seed(0)
    pool = ImagePool(2)
    first = torch.zeros(2, 3, 4, 4)
    assert torch.equal(pool.query(first), first)  # filling: the fakes themselves
    later = torch.ones(8, 3, 4, 4)
    out = pool.query(later)
    assert (out.amax(dim=(1, 2, 3)) == 0).any()  # some earlier (zero) fakes came back
