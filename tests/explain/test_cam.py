"""CAMs with the grad-cam package: frozen models, every registered method, targets, folders, flat memory."""

from __future__ import annotations

import gc
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from pytorch_grad_cam import GradCAM

from artlens.data.dataset import Sample
from artlens.errors import ArtlensError
from artlens.explain.cam import CAM_METHODS, CamExplainer, CamResult, default_target_layer
from artlens import ModelConfig
from artlens.models import build_classifier, create_backbone, load_bundle, save_bundle
from artlens.models.layers import LayerTaps
from artlens.predict import Predictor

MONET = "src/artlens/assets/examples/monet_etretat.jpg"


@pytest.fixture(scope="module")
def monet():
    with Image.open(MONET) as img:
        return img.convert("RGB")


def test_gradcam_on_the_frozen_builtin_model_where_the_package_alone_fails(frozen_builtin, monet):
    # The package used naively on a frozen model records no gradient and cannot weight the channels.
    naive_input = torch.zeros(1, 3, 96, 96)
    with pytest.raises(Exception):  # noqa: B017 - the package raises TypeError/IndexError depending on version
        with GradCAM(model=frozen_builtin.model, target_layers=[frozen_builtin.model.backbone.body.bn2]) as cam:
            cam(input_tensor=naive_input)

    explainer = CamExplainer(frozen_builtin, method="gradcam")
    result = explainer.explain(monet)
    assert isinstance(result, CamResult) and explainer.layer == "bn2"
    assert result.heatmap.shape == (224, 224) and result.heatmap.dtype == np.float32
    assert result.heatmap.min() >= 0 and result.heatmap.max() == pytest.approx(1, abs=1e-3)
    assert result.heatmap.std() > 0.05  # a real map, not the all-zero map of NaN gradients
    assert result.overlay.mode == "RGB" and result.overlay.size == (224, 224)
    top = Predictor(frozen_builtin)([MONET], top_k=1)[0][0]["predictions"][0]
    assert result.label == top["label"] == result.predicted and result.prob == pytest.approx(top["prob"], abs=2e-3)
    assert not any(p.requires_grad for p in frozen_builtin.model.parameters())  # nothing unfrozen behind our back


def test_explain_works_inside_inference_mode_and_for_any_image_mode(frozen_builtin, monet):
    explainer = CamExplainer(frozen_builtin, method="gradcam++", input_size=64)
    with torch.inference_mode():  # how a service may call it
        results = [explainer.explain(monet.convert(mode)) for mode in ("RGBA", "L", "P")]
    assert all(r.heatmap.shape == (64, 64) and r.heatmap.max() > 0.99 for r in results)


@pytest.mark.parametrize("method", CAM_METHODS.names())
def test_every_registered_method_explains_a_frozen_tiny_model(method, tiny_bundle, tiny_tree):
    bundle = load_bundle(tiny_bundle)
    for p in bundle.model.backbone.parameters():
        p.requires_grad_(False)
    result = CamExplainer(bundle, method=method).explain(Image.open(next((tiny_tree / "Baroque").iterdir())))
    assert result.heatmap.shape == (64, 64)
    assert np.isfinite(result.heatmap).all() and 0 <= result.heatmap.min() and result.heatmap.max() <= 1
    assert result.label in bundle.classes


def test_gradcam_matches_the_package_on_a_trainable_model(tiny_bundle, tiny_tree):
    bundle = load_bundle(tiny_bundle)  # parameters require grad: the package works unaided here
    image = Image.open(next((tiny_tree / "Pop_Art").iterdir()))
    explainer = CamExplainer(bundle, method="gradcam")
    ours = explainer.explain(image, target=1)
    x = explainer.transform(image.convert("RGB"))[None]
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    with GradCAM(model=bundle.model, target_layers=[bundle.model.backbone.body.get_submodule("2")]) as cam:
        reference = cam(input_tensor=x, targets=[ClassifierOutputTarget(1)])[0]
    np.testing.assert_allclose(ours.heatmap, reference, atol=1e-5)


def test_featuremap_is_the_channel_sum_of_the_last_block(frozen_builtin, monet):
    explainer = CamExplainer(frozen_builtin, method="featuremap", input_size=128)
    heat = explainer.explain(monet).heatmap
    x = explainer.transform(monet)[None]
    with torch.no_grad():
        summed = LayerTaps(frozen_builtin.model, ["bn2"])(x)["bn2"].sum(1, keepdim=True)
    expected = F.interpolate(summed, size=(128, 128), mode="bilinear", align_corners=False)[0, 0].numpy()
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    assert np.corrcoef(heat.ravel(), expected.ravel())[0, 1] > 0.99


def test_targets_by_name_and_index_and_clear_errors(tiny_bundle, tiny_tree):
    explainer = CamExplainer(str(tiny_bundle))
    image = Image.open(next((tiny_tree / "Ukiyo_e").iterdir()))
    by_name, by_index = explainer.explain(image, target="Ukiyo_e"), explainer.explain(image, target=2)
    assert by_name.label == by_index.label == "Ukiyo_e" and by_name.class_index == 2
    assert explainer.class_index("2") == 2  # --target 2 on a command line
    np.testing.assert_allclose(by_name.heatmap, by_index.heatmap)
    probs = [explainer.explain(image, target=i).prob for i in range(3)]
    assert sum(probs) == pytest.approx(1, abs=1e-4)
    with pytest.raises(ArtlensError, match="unknown class 'Cubism'.*Baroque, Pop_Art, Ukiyo_e"):
        explainer.explain(image, target="Cubism")
    with pytest.raises(ArtlensError, match=r"unknown CAM method 'gradcam\+'.*did you mean gradcam\+\+"):
        CamExplainer(str(tiny_bundle), method="gradcam+")
    with pytest.raises(ArtlensError, match="no layer 'conv9'.*valid names: 0, 1, 2"):
        CamExplainer(str(tiny_bundle), layer="conv9")


def test_target_layer_is_the_last_conv_block_and_can_be_overridden(tiny_bundle):
    assert default_target_layer(create_backbone("resnet18", pretrained="none")) == "layer4"
    assert CamExplainer(str(tiny_bundle)).layer == "2"
    assert CamExplainer(str(tiny_bundle), layer="1").layer == "1"


@pytest.fixture()
def style_statistics_bundle(tmp_path):
    """A Lite0 classifier whose head also reads every block's channel mean and std (random weights)."""
    cfg = ModelConfig(backbone="efficientnet_lite0", pretrained="none",
                      style_layers=[f"blocks.{i}" for i in range(7)], power_norm=True)
    return save_bundle(build_classifier(cfg, 3), tmp_path / "stats", classes=["a", "b", "c"], model_cfg=cfg)


def test_layers_a_cam_cannot_use_are_refused_in_one_line(frozen_builtin, style_statistics_bundle, monet, caplog):
    with pytest.raises(ArtlensError, match=r"layer 'global_pool' gives a vector \(1280,\), not a feature map; "
                                           r"CAM methods need a convolutional layer such as 'bn2'"):
        CamExplainer(frozen_builtin, layer="global_pool")
    with pytest.raises(ArtlensError, match=r"layer 'embed' is the pooled feature vector, not a feature map"):
        CamExplainer(frozen_builtin, layer="embed")  # `artlens layers` lists it, for probes
    # AblationCAM swaps the layer out, and with it the hook a model with style statistics reads them through.
    with pytest.raises(ArtlensError, match=r"ablationcam cannot explain layer 'blocks.2'.*blocks\.2\.1\.bn3"):
        CamExplainer(style_statistics_bundle, method="ablationcam", layer="blocks.2")
    heat = CamExplainer(frozen_builtin, method="ablationcam", layer="blocks.2.1.bn3").explain(monet).heatmap
    assert heat.max() > 0
    with caplog.at_level("WARNING", logger="artlens.explain.cam"):
        CamExplainer(frozen_builtin, input_size=32)
    assert "layer 'bn2' is 1x1 at 32 px input: every heatmap will be blank" in caplog.text


def test_an_image_opened_sideways_is_explained_upright(frozen_builtin, tmp_path, monet):
    """A phone photo stores its pixels sideways with an EXIF orientation; it is explained as displayed."""
    exif = Image.Exif()
    exif[0x0112] = 8  # stored turned 90 degrees clockwise: display turns it back
    stored = monet.transpose(Image.Transpose.ROTATE_270)
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    explainer = CamExplainer(frozen_builtin)
    with Image.open(tmp_path / "phone.jpg") as opened:
        explained = explainer.explain(opened, target="Impressionism")
        pixels = np.asarray(opened.convert("RGB"))  # as stored, without the orientation
    upright = explainer.explain(Image.fromarray(pixels).transpose(Image.Transpose.ROTATE_90), target="Impressionism")
    raw = explainer.explain(Image.fromarray(pixels), target="Impressionism")
    assert explained.prob == pytest.approx(upright.prob, abs=1e-6)
    assert abs(raw.prob - upright.prob) > 0.01


def test_a_batch_gives_the_same_maps_as_one_at_a_time(tiny_bundle, tiny_tree):
    explainer = CamExplainer(str(tiny_bundle), method="gradcam")
    images = [Image.open(p) for p in sorted((tiny_tree / "Baroque").iterdir())[:4]]
    batched = explainer.explain_batch(images, ["Baroque", None, 1, None])
    single = [explainer.explain(img, t) for img, t in zip(images, ["Baroque", None, 1, None])]
    for b, s in zip(batched, single):
        assert b.label == s.label
        np.testing.assert_allclose(b.heatmap, s.heatmap, atol=1e-4)


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def test_memory_stays_flat_over_200_images(tiny_bundle, artdata, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    sources = sorted((artdata / "wikiart11" / "Impressionism").glob("*.jpg"))[:20]
    for i in range(200):  # 200 files: 20 real paintings, each written 10 times under another name
        shutil.copy(sources[i % 20], folder / f"{i:03d}.jpg")
    from artlens.data.dataset import Sample

    bundle = load_bundle(tiny_bundle)
    for p in bundle.model.backbone.parameters():
        p.requires_grad_(False)
    # At 96 px one image's autograd graph is ~0.5 MB: a leaked graph per image would show clearly.
    explainer = CamExplainer(bundle, method="gradcam", input_size=96)
    samples = [Sample(str(p), "") for p in sorted(folder.iterdir())]
    rss = {}
    for n, (_, result) in enumerate(explainer.explain_samples(samples, batch_size=8), start=1):
        assert result.heatmap.shape == (96, 96)
        if n in (50, 200):
            gc.collect()
            rss[n] = _rss_mb()
    assert n == 200
    assert rss[200] - rss[50] < 8, f"memory grew by {rss[200] - rss[50]:.1f} MB over 150 images"


@pytest.mark.parametrize("tta", ["flip", "crops"])
def test_explanations_name_the_class_predict_answers_with_test_time_augmentation(frozen_builtin, artdata, tta):
    """On this photo (a CC BY photograph, photos_ccby) the mirrored view changes the built-in model's top
    label (Baroque alone, 0.27; Naive Art averaged with its mirror, 0.39 against Baroque's 0.20): an
    explanation reports the averaged class and probability, as predict does, also when another class
    is explained and on the folder path."""
    photo = artdata / "photos_ccby" / "348618ddbde3a39c.jpg"
    top = Predictor(frozen_builtin, tta=tta)([str(photo)], top_k=1)[0][0]["predictions"][0]
    explainer = CamExplainer(frozen_builtin, tta=tta)
    with Image.open(photo) as img:
        single_view = CamExplainer(frozen_builtin, tta="none").explain(img)
        result = explainer.explain(img)
        other = explainer.explain(img, target="Baroque")
    (_, from_folder), = explainer.explain_samples([Sample(str(photo), "")])
    if tta == "flip":
        assert single_view.label != top["label"]
    for r in (result, from_folder):
        assert r.label == r.predicted == top["label"] and r.prob == pytest.approx(top["prob"], abs=2e-3)
    assert other.label == "Baroque" and other.predicted == top["label"]
    np.testing.assert_allclose(from_folder.heatmap, result.heatmap, atol=1e-4)
