"""Huang & Belongie (2017), *Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization*.

A frozen encoder (a backbone up to one layer: VGG19 ``relu4_1`` in the paper) turns content and
style into feature maps; AdaIN gives the content map the style's channel means and stds; a trained
decoder turns the result back into pixels. One forward pass per image, any style, and a strength
``alpha`` that blends the AdaIN features with the content's own (``alpha=0`` gives the content back
through the decoder, ``alpha=1`` the full transfer).

* :func:`train_decoder` trains the decoder with the paper's losses (content loss on the AdaIN
  target, style loss on channel statistics of several layers), resumable from atomic checkpoints,
  writing sample grids as it goes, and saves a *decoder bundle*: ``decoder.safetensors`` +
  ``artlens.json`` (format ``artlens-adain-decoder/1``).
* :class:`AdainStylizer` loads a bundle and stylises PIL images (several styles with weights,
  colour preservation, content size and crop options as in the reference ``test.py``).

>>> from artlens.style.adain import AdainStylizer
>>> stylizer = AdainStylizer.load("runs/adain/decoder")                    # doctest: +SKIP
>>> img = stylizer.stylize(photo, [starry_night], alpha=0.5)               # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from .._registry import Registry
from .._version import __version__
from ..data.images import UnreadableImage, iter_image_files, load_image
from ..errors import ArtlensError
from ..inference import default_device
from ..models.bundle import DECODER_FORMAT, DECODER_WEIGHTS_FILE, META_FILE, read_bundle_meta, write_bundle_dir
from ..models.layers import layer_aliases, resolve_layer
from ..outputs import replaceable_folder
from .extractor import DEFAULT_EXTRACTOR, Extractor, load_extractor
from .images import as_rgb, check_side, fit_size, match_color, round_to_multiple, to_pil, to_tensor
from .losses import adain, channel_stats, moment_loss

__all__ = ["DECODERS", "DECODER_FORMAT", "AdainStylizer", "AdainTrainConfig", "build_decoder", "default_layer",
           "find_decoders", "load_decoder_bundle", "save_decoder_bundle", "style_layers_for", "train_decoder"]

log = logging.getLogger(__name__)

WEIGHTS_FILE = DECODER_WEIGHTS_FILE
CHECKPOINT_FILE = "checkpoint.pt"


# -- decoders ----------------------------------------------------------------------------------

def _conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    # Reflection padding as in the reference decoder: zero padding draws dark frames round the image.
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
    return layers + [nn.ReLU()] if relu else layers


def _vgg_mirror(spec: dict) -> nn.Sequential:
    """The encoder's convolutions in reverse (``[cin, cout]`` each, or ``"up"`` for a pooling layer)."""
    layers: list[nn.Module] = []
    ops = spec["ops"]
    for i, op in enumerate(ops):
        if op == "up":
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            layers += _conv(op[0], op[1], relu=i < len(ops) - 1)
    return nn.Sequential(*layers)


def _upsampling(spec: dict) -> nn.Sequential:
    """For non-VGG encoders: conv + nearest x2 upsampling per halving of resolution, channels halving."""
    c, n_up = int(spec["channels"]), int(round(math.log2(int(spec["stride"]))))
    width = min(256, max(128, c))
    layers: list[nn.Module] = [*_conv(c, width)]
    for _ in range(n_up):
        nxt = max(32, width // 2)
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), *_conv(width, nxt), *_conv(nxt, nxt)]
        width = nxt
    layers += _conv(width, 3, relu=False)
    return nn.Sequential(*layers)


#: Decoder families, rebuilt from the ``decoder`` entry of a bundle's JSON (no code in the file).
DECODERS: Registry[Callable[[dict], nn.Sequential]] = Registry("decoder")
DECODERS.add("vgg-mirror", _vgg_mirror)
DECODERS.add("upsampling", _upsampling)


def default_layer(extractor: Extractor) -> str:
    """``relu4_1`` for VGGs (the paper); the stride-8 stage ``blocks.2`` for EfficientNets; else a middle stage."""
    if layer_aliases(extractor.backbone):
        return "relu4_1"
    if "efficientnet" in extractor.name:
        return "blocks.2"
    stages = extractor.map_stages()
    if not stages:
        raise ArtlensError(f"extractor {extractor.name!r} has no named stages: pass --layer")
    return stages[len(stages) // 2]


def _module_order(extractor: Extractor) -> dict[str, int]:
    return {name: i for i, (name, _) in enumerate(extractor.backbone.body.named_modules())}


def style_layers_for(extractor: Extractor, layer: str) -> list[str]:
    """Layers whose statistics the style loss matches: ``relu1_1 .. relu4_1`` for VGG, else the stages up to ``layer``."""
    order = _module_order(extractor)
    end = order[resolve_layer(extractor.backbone, layer)]
    aliases = layer_aliases(extractor.backbone)
    if aliases:
        names = [a for a in aliases if a.startswith("relu") and a.endswith("_1") and order[aliases[a]] <= end]
    else:
        names = [s for s in extractor.map_stages() if order.get(s, 1 << 30) <= end]
    return list(dict.fromkeys([*names, layer]))


def build_decoder(extractor: Extractor, layer: str) -> tuple[nn.Sequential, dict]:
    """A decoder for ``extractor`` up to ``layer`` and the JSON spec that rebuilds it."""
    path = resolve_layer(extractor.backbone, layer)
    aliases = layer_aliases(extractor.backbone)
    if aliases and path.startswith("features."):
        feats = extractor.backbone.body.features
        ops: list[Any] = []
        for idx, module in feats.named_children():
            if isinstance(module, nn.Conv2d):
                ops.append([module.out_channels, module.in_channels])
            elif isinstance(module, nn.MaxPool2d):
                ops.append("up")
            if f"features.{idx}" == path:
                break
        ops.reverse()
        spec = {"kind": "vgg-mirror", "ops": ops}
    else:
        with torch.no_grad():
            probe = extractor(torch.zeros(1, 3, 64, 64, device=extractor.mean.device), [layer])[layer]
        spec = {"kind": "upsampling", "channels": int(probe.shape[1]), "stride": 64 // int(probe.shape[-1])}
    return DECODERS.get(spec["kind"])(spec), spec


def _stride(spec: dict) -> int:
    if spec["kind"] == "vgg-mirror":
        return 2 ** sum(1 for op in spec["ops"] if op == "up")
    return int(spec["stride"])


# -- bundles -----------------------------------------------------------------------------------

def save_decoder_bundle(decoder: nn.Module, path: str | os.PathLike, meta: dict) -> Path:
    """Write ``decoder.safetensors`` + ``artlens.json`` atomically (a crash never leaves half a bundle)."""
    path = Path(path)
    meta = {"format": DECODER_FORMAT, "name": path.name, "artlens_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **meta}
    state = {k: v.detach().cpu().contiguous() for k, v in decoder.state_dict().items()}
    return write_bundle_dir(path, state, meta, weights_file=WEIGHTS_FILE)


def load_decoder_bundle(path: str | os.PathLike) -> tuple[nn.Sequential, dict]:
    """Rebuild the decoder described by the bundle's JSON and load its tensors (safetensors, no pickle)."""
    path = Path(path)
    meta = read_bundle_meta(path, format=DECODER_FORMAT)
    decoder = DECODERS.get(meta["decoder"]["kind"])(meta["decoder"])
    try:
        decoder.load_state_dict(load_file(str(path / WEIGHTS_FILE)), strict=True)
    except Exception as err:  # noqa: BLE001 - safetensors and load_state_dict raise several types
        raise ArtlensError(f"{path / WEIGHTS_FILE}: does not match the decoder in {META_FILE} "
                           f"({str(err).splitlines()[0]})") from None
    return decoder.eval(), meta


def find_decoders(models_dir: str | os.PathLike) -> list[Path]:
    """Every AdaIN decoder bundle under ``models_dir`` (recursively), sorted by path."""
    root = Path(models_dir)
    if not root.is_dir():
        return []
    found = []
    for meta_path in sorted(root.rglob(META_FILE)):
        try:
            read_bundle_meta(meta_path.parent, format=DECODER_FORMAT)
        except ArtlensError:
            continue
        found.append(meta_path.parent)
    return found


# -- stylising ---------------------------------------------------------------------------------

class AdainStylizer:
    """Encoder + AdaIN + decoder, ready to stylise PIL images."""

    def __init__(self, extractor: Extractor, decoder: nn.Module, *, layer: str, meta: dict | None = None) -> None:
        self.extractor = extractor
        self.decoder = decoder.to(extractor.mean.device).eval()
        self.layer = layer
        self.meta = dict(meta or {})
        self.stride = _stride(self.meta["decoder"]) if "decoder" in self.meta else 8

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | torch.device = "cpu",
             weights: str | None = None) -> "AdainStylizer":
        """Load a decoder bundle; its encoder is rebuilt from the name in the JSON (``weights`` for VGG19 files)."""
        decoder, meta = load_decoder_bundle(path)
        extractor = load_extractor(meta["encoder"], weights=weights or meta.get("encoder_weights"), device=device,
                                   option=None)
        return cls(extractor, decoder, layer=meta["layer"], meta=meta)

    @property
    def device(self) -> torch.device:
        return self.extractor.mean.device

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.extractor(x, [self.layer])[self.layer]

    def decode(self, t: torch.Tensor) -> torch.Tensor:
        return self.decoder(t)

    @torch.no_grad()
    def transfer(self, content: torch.Tensor, styles: Sequence[torch.Tensor], *, alpha: float = 1.0,
                 weights: Sequence[float] | None = None) -> torch.Tensor:
        """Tensors in ``[0, 1]`` -> stylised tensor (reference ``style_transfer`` with interpolation)."""
        if not 0.0 <= alpha <= 1.0:
            raise ArtlensError(f"--alpha must be in [0, 1], got {alpha}")
        weights = _normalise(weights, len(styles))
        c_feat = self.encode(content)
        target = torch.zeros_like(c_feat)
        for w, s in zip(weights, styles):
            s_mean, s_std = channel_stats(self.encode(s))
            target = target + w * adain(c_feat, s_mean, s_std)
        mixed = alpha * target + (1 - alpha) * c_feat
        out = self.decode(mixed)
        if out.shape[-2:] != content.shape[-2:]:
            out = F.interpolate(out, size=content.shape[-2:], mode="bilinear", align_corners=False)
        return out.clamp(0, 1)

    def stylize(self, content: Image.Image, styles: Sequence[Image.Image], *, alpha: float = 1.0,
                weights: Sequence[float] | None = None, preserve_color: bool = False, content_size: int = 512,
                style_size: int = 512, crop: bool = False) -> Image.Image:
        """Stylise a PIL image; sizes resize the shorter side (0 keeps the original), ``crop`` takes the centre square.

        The result has the content's aspect ratio, and with ``content_size=0`` exactly its size. The
        decoder only returns multiples of its stride (8 or 32 px), so the network runs on the content
        resized to the nearest multiples and the decoded picture is resized back. Resizing, rather
        than padding or cropping, keeps every content pixel and nothing else in the AdaIN statistics
        (padding would add mirrored borders to them); the stretch is under half a stride per side and
        is undone exactly by the resize back.
        """
        if not styles:
            raise ArtlensError("at least one style image is needed")
        check_side(content_size, "--content-size")
        check_side(style_size, "--style-size")
        target = fit_size(as_rgb(content), content_size, longer=False, crop=crop)
        net_size = round_to_multiple(target.size, self.stride)
        c = to_tensor(target.resize(net_size, Image.BICUBIC) if net_size != target.size else target).to(self.device)
        # Styles only give channel statistics: their shape never reaches the decoder.
        s_list = [to_tensor(fit_size(as_rgb(s), style_size, longer=False, crop=crop)).to(self.device) for s in styles]
        if preserve_color:
            s_list = [match_color(s, c) for s in s_list]
        out = to_pil(self.transfer(c, s_list, alpha=alpha, weights=weights))
        return out.resize(target.size, Image.BICUBIC) if out.size != target.size else out


def _normalise(weights: Sequence[float] | None, n: int) -> list[float]:
    weights = list(weights) if weights else [1.0] * n
    if len(weights) != n:
        raise ArtlensError(f"--style-weights: {len(weights)} weights for {n} style images")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ArtlensError("--style-weights must be non-negative and not all zero")
    return [w / sum(weights) for w in weights]


# -- training ----------------------------------------------------------------------------------

@dataclass
class AdainTrainConfig:
    """``artlens stylize adain-train``: the reference training recipe, scaled by flags."""

    content: str = ""
    """Folder of content images (photos, paintings), searched recursively."""
    style: str = ""
    """Folder of style images (paintings), searched recursively."""
    out: str = "runs/adain"
    """Run folder: ``checkpoint.pt``, ``samples/``, ``log.csv`` and the bundle in ``decoder/``."""
    encoder: str = DEFAULT_EXTRACTOR
    """Feature extractor: ``vgg19`` (the paper's, needs its weights), ``efficientnet_lite0`` (offline), any
    backbone name, or a trained bundle folder."""
    weights: str | None = None
    """Encoder weights file (e.g. ``vgg19-dcbb9e9d.pth``), ``none``, or None for the default source."""
    layer: str | None = None
    """Encoder output layer (default ``relu4_1`` for VGG, ``blocks.2`` for EfficientNet-Lite0)."""
    steps: int = 160000
    """Training iterations (the paper: 160000)."""
    batch_size: int = 8
    """Content/style pairs per step."""
    size: int = 256
    """Random crop side; images are first resized so their shorter side is ``load_size``."""
    load_size: int = 512
    """Shorter side images are resized to before cropping."""
    lr: float = 1e-4
    """Adam's learning rate."""
    lr_decay: float = 5e-5
    """Inverse-time decay of the learning rate: ``lr / (1 + lr_decay * step)``."""
    content_weight: float = 1.0
    """Content loss weight."""
    style_weight: float = 10.0
    """Style loss weight (the paper: 10)."""
    checkpoint_every: int = 500
    """Write ``checkpoint.pt`` every N steps."""
    sample_every: int = 500
    """Write a sample grid every N steps."""
    device: str = "cpu"
    seed: int = 0
    """Seed of the decoder's first weights, the image order and the crops."""
    resume: bool = False
    """Continue from ``<out>/checkpoint.pt``."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "sample_every"):
            if getattr(self, name) < 1:
                raise ArtlensError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.size < 16 or self.load_size < self.size:
            raise ArtlensError(f"--size must be >= 16 and --load-size >= --size (got {self.size}, {self.load_size})")


def _image_list(folder: str, what: str) -> list[Path]:
    path = Path(folder)
    if not folder or not path.is_dir():
        raise ArtlensError(f"--{what} {folder or '(missing)'}: not a folder of images")
    files = iter_image_files(path)
    if not files:
        raise ArtlensError(f"--{what} {folder}: no image files found")
    return files


class _Sampler:
    """Random crops of random images, reproducible from one generator (its state is checkpointed).

    An unreadable file is remembered in ``bad`` and redrawn, never taken out of ``files``: the
    generator then makes the same draws whether the file was found bad before or after a resume,
    so a resumed run still reaches the uninterrupted run's weights.
    """

    def __init__(self, files: list[Path], size: int, load_size: int, gen: torch.Generator,
                 cache_limit: int = 2048) -> None:
        self.files, self.size, self.load_size, self.gen = files, size, load_size, gen
        self.bad: set[Path] = set()
        self.cache: dict[Path, torch.Tensor] = {}
        self.cache_limit = cache_limit

    def _load(self, path: Path) -> torch.Tensor | None:
        """The resized image (cached while the cache is small), or None for an unreadable file."""
        if path in self.cache:
            return self.cache[path]
        if path in self.bad:
            return None
        try:
            img = to_tensor(fit_size(load_image(path), self.load_size, longer=False))[0]
        except UnreadableImage as err:
            log.warning("skipping %s", err)
            self.bad.add(path)
            if len(self.bad) == len(self.files):
                raise ArtlensError(f"{path.parent}: no readable images left") from None
            return None
        if len(self.cache) < self.cache_limit:
            self.cache[path] = img
        return img

    def fixed(self, n: int) -> torch.Tensor:
        """Centre crops of the first ``n`` readable files: the same sample grid at every step and resume."""
        crops = []
        for path in self.files:
            img = self._load(path)
            if img is None:
                continue
            _, h, w = img.shape
            top, left = (h - self.size) // 2, (w - self.size) // 2
            crops.append(img[:, top:top + self.size, left:left + self.size])
            if len(crops) == n:
                break
        return torch.stack(crops)

    def batch(self, n: int) -> torch.Tensor:
        crops = []
        while len(crops) < n:
            path = self.files[int(torch.randint(len(self.files), (1,), generator=self.gen))]
            img = self._load(path)
            if img is None:
                continue
            _, h, w = img.shape
            top = int(torch.randint(h - self.size + 1, (1,), generator=self.gen))
            left = int(torch.randint(w - self.size + 1, (1,), generator=self.gen))
            crops.append(img[:, top:top + self.size, left:left + self.size])
        return torch.stack(crops)


def _sample_grid(stylizer: AdainStylizer, contents: torch.Tensor, styles: torch.Tensor, path: Path) -> None:
    """Rows: content images; columns: the content, then each style applied (first row: the styles)."""
    from torchvision.utils import save_image

    was = stylizer.decoder.training
    stylizer.decoder.eval()
    with torch.no_grad():  # one encoder pass per set and one decoder pass for the whole grid
        c_feat = stylizer.encode(contents)
        s_mean, s_std = channel_stats(stylizer.encode(styles))
        n, m = len(contents), len(styles)
        targets = adain(c_feat.repeat_interleave(m, 0), s_mean.repeat(n, 1, 1, 1), s_std.repeat(n, 1, 1, 1))
        out = stylizer.decode(targets).clamp(0, 1)
        out = F.interpolate(out, size=contents.shape[-2:], mode="bilinear", align_corners=False)
    stylizer.decoder.train(was)
    tiles = [torch.ones_like(contents[0])] + list(styles)
    for i in range(n):
        tiles += [contents[i], *out[i * m:(i + 1) * m]]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.stack(tiles).cpu(), str(path), nrow=m + 1, padding=2, pad_value=1.0)


def _truncate_log(path: Path, step: int) -> None:
    """Drop the rows of ``log.csv`` after ``step`` (written by a run killed between checkpoints)."""
    if not path.is_file():
        path.write_text("step,content,style,total,lr\n")
        return
    header, *rows = path.read_text().splitlines()
    kept = [r for r in rows if r.split(",", 1)[0].isdigit() and int(r.split(",", 1)[0]) <= step]
    path.write_text("\n".join([header, *kept]) + "\n")


def _check_resume_steps(ckpt_path: Path, done: int, steps: int) -> None:
    """``--steps`` below the checkpoint's step would label step-``done`` weights as ``steps``: refuse it."""
    if steps < done:
        raise ArtlensError(f"{ckpt_path}: the run is already at step {done}, beyond --steps {steps}; "
                           f"pass --steps {done} or more to resume it, or choose another --out")


def _bundle_steps(bundle: Path) -> int | None:
    """The ``steps`` a saved decoder bundle says it was trained for (None: no readable bundle)."""
    try:
        return int(read_bundle_meta(bundle, format=DECODER_FORMAT).get("steps"))
    except (ArtlensError, TypeError, ValueError):
        return None


def _logged_losses(path: Path, step: int) -> dict[str, float]:
    """The losses ``log.csv`` recorded at ``step`` ({} if none): a bundle rewritten after a resume that had
    no step left to run still reports its real last losses."""
    if step == 0 or not path.is_file():
        return {}
    for row in reversed(path.read_text().splitlines()[1:]):
        fields = row.split(",")
        if len(fields) >= 4 and fields[0] == str(step):
            try:
                return {"content": float(fields[1]), "style": float(fields[2]), "total": float(fields[3])}
            except ValueError:
                return {}
    return {}


def train_decoder(cfg: AdainTrainConfig, *, callback: Callable[[int, int, dict[str, float]], None] | None = None
                  ) -> Path:
    """Train an AdaIN decoder (paper eq. 11-12); returns the bundle directory ``<out>/decoder``.

    Every ``checkpoint_every`` steps the decoder, optimiser, step and sampler state are written
    atomically to ``checkpoint.pt``; ``resume=True`` continues from it and reaches the same weights
    as an uninterrupted run. Resuming a run that has reached ``steps``, with its bundle saved, changes
    nothing (the bundle keeps its losses and timings); ``steps`` below the checkpoint's step is refused.
    """
    from ..train.checkpoint import load_checkpoint, save_checkpoint

    content_files, style_files = _image_list(cfg.content, "content"), _image_list(cfg.style, "style")
    out = Path(cfg.out)
    ckpt_path = out / CHECKPOINT_FILE
    state = load_checkpoint(ckpt_path) if cfg.resume else None
    if state is not None:
        _check_resume_steps(ckpt_path, int(state["step"]), cfg.steps)
        bundle = out / "decoder"
        same_run = state.get("encoder") == cfg.encoder and cfg.layer in (None, state.get("layer"))
        if same_run and int(state["step"]) == cfg.steps and _bundle_steps(bundle) == cfg.steps:
            log.warning("%s: the run is already at step %d of --steps %d; nothing to train, %s is unchanged "
                        "(pass a larger --steps to continue it)", ckpt_path, cfg.steps, cfg.steps, bundle)
            return bundle
    out.mkdir(parents=True, exist_ok=True)
    replaceable_folder(out / "decoder", keep=(WEIGHTS_FILE, META_FILE))  # the bundle replaces it at the end
    device = default_device(cfg.device)
    extractor = load_extractor(cfg.encoder, weights=cfg.weights, device=device, option="--encoder")
    layer = cfg.layer or default_layer(extractor)
    style_layers = style_layers_for(extractor, layer)
    torch.manual_seed(cfg.seed)
    decoder, spec = build_decoder(extractor, layer)
    decoder.to(device).train()
    stylizer = AdainStylizer(extractor, decoder, layer=layer, meta={"decoder": spec})
    opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
    gen_c = torch.Generator().manual_seed(cfg.seed)
    gen_s = torch.Generator().manual_seed(cfg.seed + 1)
    start = 0
    if state is not None:
        if state.get("encoder") != cfg.encoder or state.get("layer") != layer:
            raise ArtlensError(f"{ckpt_path}: was trained with encoder {state.get('encoder')!r} layer "
                               f"{state.get('layer')!r}, not {cfg.encoder!r} {layer!r}")
        decoder.load_state_dict(state["decoder"])
        opt.load_state_dict(state["optimizer"])
        gen_c.set_state(state["gen_content"])
        gen_s.set_state(state["gen_style"])
        start = int(state["step"])
        log.info("resumed from %s at step %d", ckpt_path, start)
    elif ckpt_path.exists():
        raise ArtlensError(f"{ckpt_path} exists: pass --resume to continue that run or choose another --out")
    contents = _Sampler(content_files, cfg.size, cfg.load_size, gen_c)
    styles = _Sampler(style_files, cfg.size, cfg.load_size, gen_s)
    fixed = (contents.fixed(3).to(device), styles.fixed(3).to(device))
    log_path = out / "log.csv"
    if start == 0:
        log_path.write_text("step,content,style,total,lr\n")
    else:  # steps logged after the checkpoint are run again: keep only the rows up to it
        _truncate_log(log_path, start)
    losses = _logged_losses(log_path, start)  # what the bundle reports if no step is left to run
    t0 = time.perf_counter()
    for step in range(start, cfg.steps):
        lr = cfg.lr / (1.0 + cfg.lr_decay * step)  # the reference's inverse-time decay
        for group in opt.param_groups:
            group["lr"] = lr
        c = contents.batch(cfg.batch_size).to(device)
        s = styles.batch(cfg.batch_size).to(device)
        with torch.no_grad():
            c_feat = extractor(c, [layer])[layer]
            s_feats = extractor(s, style_layers)
            t = adain(c_feat, *channel_stats(s_feats[layer]))
        g = decoder(t)
        g_feats = extractor(g, style_layers)
        loss_c = F.mse_loss(g_feats[layer], t)
        loss_s = moment_loss([g_feats[n] for n in style_layers], [s_feats[n] for n in style_layers])
        loss = cfg.content_weight * loss_c + cfg.style_weight * loss_s
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if not math.isfinite(float(loss.detach())):
            raise ArtlensError(f"training diverged at step {step + 1} (loss not finite): lower --lr")
        done = step + 1
        losses = {"content": float(loss_c.detach()), "style": float(loss_s.detach()), "total": float(loss.detach())}
        with log_path.open("a") as fh:
            fh.write(f"{done},{losses['content']:.6g},{losses['style']:.6g},{losses['total']:.6g},{lr:.6g}\n")
        if callback:
            callback(done, cfg.steps, losses)
        if done % cfg.sample_every == 0 or done == cfg.steps:
            _sample_grid(stylizer, *fixed, out / "samples" / f"step{done:06d}.png")
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            save_checkpoint({"decoder": decoder.state_dict(), "optimizer": opt.state_dict(), "step": done,
                             "gen_content": gen_c.get_state(), "gen_style": gen_s.get_state(),
                             "encoder": cfg.encoder, "layer": layer}, ckpt_path)
    training = {"content": f"{cfg.content} ({len(content_files)} images)",
                "style": f"{cfg.style} ({len(style_files)} images)",
                **{k: v for k, v in asdict(cfg).items() if k not in ("content", "style", "out", "resume")}}
    meta = {"encoder": cfg.encoder, "encoder_weights": cfg.weights, "encoder_pretrained_from":
            extractor.backbone.pretrained_from, "layer": layer, "style_layers": style_layers, "decoder": spec,
            "steps": cfg.steps, "training": training, "losses": losses,
            "seconds_this_session": round(time.perf_counter() - t0, 1)}
    return save_decoder_bundle(decoder, out / "decoder", meta)
