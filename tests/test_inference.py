"""Test-time augmentation: which views an image is predicted from, and that their probabilities are averaged."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image

from artlens import ModelConfig, evaluate, fit
from artlens.config import TTA_MODES
from artlens.data import build_transform, load_image
from artlens.errors import ArtlensError
from artlens.inference import CROP_FRACTION, TTA, batch_probs, crop_min_side, tta_mode, view_transform
from artlens.models import build_classifier, load_bundle, save_bundle
from artlens.predict import Predictor
from artlens.serve.registry import ModelRegistry
from artlens.serve.uploads import decode_upload

from .conftest import tiny_config

PAINTING = "aic_periods/golden_age_1880s/61616.jpg"  # Seurat's oil sketch, a few hundred px a side
CFG = ModelConfig(backbone="tiny_cnn", pretrained="none")


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tta") / "tiny"
    save_bundle(build_classifier(CFG, 3), out, classes=["Baroque", "Pop_Art", "Ukiyo_e"], model_cfg=CFG, name="tiny")
    return out


@pytest.fixture(scope="module")
def images(artdata, tmp_path_factory):
    """The real painting as it is, and a thumbnail of it too small to crop without upsampling."""
    root = tmp_path_factory.mktemp("tta-images")
    big = root / "big.jpg"
    big.write_bytes((artdata / PAINTING).read_bytes())
    small = root / "small.jpg"
    with Image.open(big) as img:
        img.convert("RGB").resize((60, 50)).save(small)
    return big, small


def test_modes_from_bundles_and_users():
    assert tuple(TTA) == TTA_MODES
    assert [tta_mode(v) for v in (None, False, True, "none", "flip", "crops")] == \
        ["none", "none", "flip", "none", "flip", "crops"]  # True/False: what older bundles store
    with pytest.raises(ArtlensError, match="unknown test-time augmentation 'mirror'; choose from: none, flip, crops"):
        tta_mode("mirror")


def test_crops_are_the_whole_image_and_five_crops_of_a_large_image_only(bundle_dir, images):
    pre = load_bundle(bundle_dir).preprocessing
    big, small = (load_image(p) for p in images)
    assert min(big.size) >= crop_min_side(pre) > min(small.size)
    views = view_transform(pre, "crops")(big)
    whole = build_transform(pre)
    w, h = big.size
    corner = TF.crop(big, 0, 0, round(CROP_FRACTION * h), round(CROP_FRACTION * w))
    assert views.shape == (6, 3, pre.input_size, pre.input_size)
    assert torch.equal(views[0], whole(big)) and torch.equal(views[1], whole(corner))
    assert view_transform(pre, "crops")(small).shape == (1, 3, pre.input_size, pre.input_size)
    assert view_transform(pre, "flip")(big).shape == (1, 3, pre.input_size, pre.input_size)


def test_a_batch_of_images_with_different_numbers_of_views_averages_each_images_own(bundle_dir, images):
    bundle = load_bundle(bundle_dir)
    model = bundle.model.eval()
    big, small = (view_transform(bundle.preprocessing, "crops")(load_image(p)) for p in images)
    p = batch_probs(model, torch.cat([big, small]), torch.device("cpu"), counts=[6, 1])
    with torch.no_grad():
        alone = [model(v).softmax(-1).mean(0) for v in (big, small)]
    assert p.shape == (2, 3)
    torch.testing.assert_close(p, torch.stack(alone))


def test_flip_averages_with_the_mirror_image(bundle_dir, images):
    bundle = load_bundle(bundle_dir)
    x = view_transform(bundle.preprocessing)(load_image(images[0]))
    with torch.no_grad():
        expected = (bundle.model(x).softmax(-1) + bundle.model(x.flip(3)).softmax(-1)) / 2
    torch.testing.assert_close(batch_probs(bundle.model, x, torch.device("cpu"), tta="flip"), expected)


@pytest.fixture(scope="module")
def crops_dir(bundle_dir, tmp_path_factory):
    """The same model, its ``artlens.json`` asking for crops."""
    out = tmp_path_factory.mktemp("tta-crops") / "tiny-crops"
    out.mkdir()
    (out / "model.safetensors").write_bytes((bundle_dir / "model.safetensors").read_bytes())
    meta = json.loads((bundle_dir / "artlens.json").read_text())
    (out / "artlens.json").write_text(json.dumps({**meta, "tta": "crops"}))
    return out


def test_the_bundle_asks_for_its_tta_and_the_user_can_override_it(bundle_dir, crops_dir, images):
    as_shipped, overridden = Predictor(crops_dir), Predictor(crops_dir, tta="none")
    assert (as_shipped.tta, overridden.tta) == ("crops", "none")
    big = str(images[0])
    r_crops, r_none = as_shipped([big], top_k=3)[0][0], overridden([big], top_k=3)[0][0]
    assert r_none == Predictor(bundle_dir)([big], top_k=3)[0][0] != r_crops
    bundle = load_bundle(bundle_dir)
    views = view_transform(bundle.preprocessing, "crops")(load_image(big, draft_size=bundle.preprocessing.decode_size))
    with torch.no_grad():
        mean = bundle.model(views).softmax(-1).mean(0)
    assert [p["prob"] for p in r_crops["predictions"]] == sorted((round(float(v), 4) for v in mean), reverse=True)


def test_evaluate_reports_the_tta_it_used(bundle_dir, tiny_tree, tmp_path):
    report = evaluate(bundle_dir, tiny_tree, tmp_path / "eval", split="all", tta="crops", show_progress=False)
    assert report["tta"] == "crops" and report["n_evaluated"] == 30
    assert "Test-time augmentation: crops." in (tmp_path / "eval" / "report.md").read_text()
    assert evaluate(bundle_dir, tiny_tree, tmp_path / "plain", split="all", show_progress=False)["tta"] == "none"


def test_cli_predict_takes_tta_and_refuses_an_unknown_one(bundle_dir, images):
    cmd = [sys.executable, "-m", "artlens", "predict", str(images[0]), "--model", str(bundle_dir), "--json"]
    rows = json.loads(subprocess.run(cmd + ["--tta", "crops"], capture_output=True, text=True, check=True).stdout)
    assert rows[0]["path"] == str(images[0]) and len(rows[0]["predictions"]) == 3
    bad = subprocess.run(cmd + ["--tta", "mirror"], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown test-time augmentation 'mirror'" in bad.stderr


def test_the_web_service_predicts_what_predict_does_with_the_bundles_tta(crops_dir, images):
    registry = ModelRegistry(crops_dir.parent, device="cpu", include_builtin=False)
    try:
        served = registry.loaded("tiny")
        results, _ = Predictor(crops_dir)([str(p) for p in images], top_k=3)
        for path, result in zip(images, results):
            p = served.predict(decode_upload(path.read_bytes(), draft_size=served.entry.decode_size).image)
            assert served.tta == "crops"
            assert sorted((round(float(v), 4) for v in p), reverse=True) == [q["prob"] for q in result["predictions"]]
    finally:
        registry.close()


def test_a_recipe_chooses_the_tta_its_bundle_asks_for(tiny_tree, tmp_path):
    result = fit(tiny_config(tiny_tree, tmp_path / "run", epochs=1, model__tta="crops"))
    bundle = load_bundle(result.bundle)
    assert bundle.meta["tta"] == "crops" and "tta" not in bundle.meta["model"]
    assert Predictor(bundle).tta == "crops"
    assert json.loads((tmp_path / "run" / "eval" / "report.json").read_text())["tta"] == "crops"
    with pytest.raises(ArtlensError, match=r"model.tta: 'mirror' is not allowed; choose from: none, flip, crops"):
        ModelConfig(tta="mirror")


def test_a_large_photograph_is_predicted_as_from_its_full_decode(artdata, tmp_path):
    """predict decodes big JPEGs at a reduced scale (fast); the probabilities barely move."""
    photo = tmp_path / "photo.jpg"
    with Image.open(artdata / PAINTING) as img:
        img.convert("RGB").resize((4000, 3000), Image.BICUBIC).save(photo, quality=92)
    predictor = Predictor(tta="none")  # the built-in model, one view: the decode is what is compared
    results, skipped = predictor([photo], top_k=len(predictor.classes))
    assert not skipped
    got = {p["label"]: p["prob"] for p in results[0]["predictions"]}
    full = build_transform(predictor.bundle.preprocessing)(load_image(photo))  # every pixel decoded
    with torch.inference_mode():
        want = predictor.bundle.model.eval()(full[None]).softmax(-1)[0]
    assert max(abs(got[c] - float(want[i])) for i, c in enumerate(predictor.classes)) < 0.02
    assert results[0]["predictions"][0]["label"] == predictor.classes[int(want.argmax())]


def test_predict_batches_16_images_on_a_cpu_and_32_on_a_gpu_unless_told():
    from artlens.inference import inference_batch_size

    assert inference_batch_size("cpu") == 16
    assert inference_batch_size(torch.device("cuda", 0)) == 32


def test_precision_auto_is_float16_on_a_gpu_and_float32_elsewhere_unless_asked():
    from artlens.inference import autocast_dtype

    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert [autocast_dtype(p, cpu) for p in ("auto", "fp32", "bf16", "fp16")] == \
        [None, None, torch.bfloat16, torch.float16]
    assert [autocast_dtype(p, gpu) for p in ("auto", "fp32", "bf16")] == [torch.float16, None, torch.bfloat16]
    with pytest.raises(ArtlensError, match="unknown precision 'half'; choose from: auto, fp32, bf16, fp16"):
        autocast_dtype("half", cpu)


def test_bf16_on_a_cpu_without_native_bf16_warns_once_that_it_is_slower(monkeypatch, caplog):
    from artlens import inference

    monkeypatch.setattr(inference, "_cpu_has_bf16", lambda: False)
    inference._warn_slow_bf16.cache_clear()
    for _ in range(3):
        assert inference.autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16
    assert [r.getMessage() for r in caplog.records].count(
        "precision bf16: this CPU has no native bf16 (AVX512-BF16 or AMX); it runs slower than fp32") == 1


def test_bf16_predictions_are_close_to_float32_ones_but_computed_in_bf16(bundle_dir, images):
    exact, fast = Predictor(bundle_dir, device="cpu"), Predictor(bundle_dir, device="cpu", precision="bf16")
    views = [exact.views(load_image(p, draft_size=exact.bundle.preprocessing.decode_size)) for p in images]
    p32, p16 = exact.probs(views), fast.probs(views)
    assert p16.dtype == p32.dtype == "float32" and abs(p16.sum(1) - 1).max() < 1e-5
    assert 0 < abs(p16 - p32).max() < 0.02  # rounded to bf16 on the way (not run in float32), yet close
    results, _ = fast([str(p) for p in images], top_k=3)
    for result, row in zip(results, p16):  # files take the same path (to bf16's rounding: 4 decimals)
        assert [q["label"] for q in result["predictions"]] == [fast.classes[i] for i in row.argsort()[::-1][:3]]
        assert max(abs(q["prob"] - row[fast.classes.index(q["label"])]) for q in result["predictions"]) < 1e-3


def test_evaluate_and_the_cli_take_a_precision_and_refuse_an_unknown_one(bundle_dir, tiny_tree, tmp_path, images):
    report = evaluate(bundle_dir, tiny_tree, tmp_path / "eval", split="all", precision="bf16", show_progress=False)
    assert report["precision"] == "bf16" and report["n_evaluated"] == 30
    assert "Precision: bf16." in (tmp_path / "eval" / "report.md").read_text()
    with pytest.raises(ArtlensError, match="evaluate.precision: 'half' is not allowed"):
        evaluate(bundle_dir, tiny_tree, tmp_path / "bad", split="all", precision="half", show_progress=False)
    assert not (tmp_path / "bad").exists()
    cmd = [sys.executable, "-m", "artlens", "predict", str(images[0]), "--model", str(bundle_dir), "--json"]
    rows = json.loads(subprocess.run(cmd + ["--precision", "bf16"], capture_output=True, text=True, check=True).stdout)
    assert rows[0]["path"] == str(images[0]) and len(rows[0]["predictions"]) == 3
    bad = subprocess.run(cmd + ["--precision", "half"], capture_output=True, text=True)
    assert bad.returncode != 0
    assert bad.stderr.strip() == "error: predict.precision: 'half' is not allowed; choose from: auto, fp32, bf16, fp16"


def test_the_web_service_predicts_in_the_precision_it_was_started_with(bundle_dir, images):
    with pytest.raises(ArtlensError, match="precision 'half' is not allowed"):
        ModelRegistry(bundle_dir.parent, device="cpu", include_builtin=False, precision="half")
    registry = ModelRegistry(bundle_dir.parent, device="cpu", include_builtin=False, precision="bf16")
    try:
        served = registry.loaded("tiny")
        results, _ = Predictor(bundle_dir, precision="bf16")([str(p) for p in images], top_k=3)
        for path, result in zip(images, results):
            p = served.predict(decode_upload(path.read_bytes(), draft_size=served.entry.decode_size).image)
            assert max(abs(q["prob"] - p[served.predictor.classes.index(q["label"])]) for q in result["predictions"]) < 1e-3
            assert served.predictor.precision == "bf16"
    finally:
        registry.close()
