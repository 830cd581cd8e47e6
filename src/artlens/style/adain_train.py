"""Training an AdaIN decoder (Huang & Belongie 2017, eq. 11-12) on :mod:`artlens.train.generative`.

The paper's recipe: a frozen encoder, AdaIN targets from random content and style crops, a content loss
on the target and a style loss on channel statistics of several encoder layers, Adam with the reference's
inverse-time decay. :class:`AdainTask` is that recipe as a :class:`~artlens.train.generative.GenerativeTask`;
the engine owns the loop, checkpoints, resume, EMA, AMP, DDP, ``log.csv`` and sample grids, and
:func:`train_decoder` saves the result as a decoder bundle (:mod:`artlens.style.decoder`).

>>> from artlens.style.adain_train import AdainTrainConfig, train_decoder
>>> cfg = AdainTrainConfig(content="photos/", style="paintings/", encoder="efficientnet_lite0", steps=20000)
>>> bundle = train_decoder(cfg)                                  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import AMP_MODES
from ..data.images import iter_image_files
from ..errors import ArtlensError
from ..inference import default_device
from ..models.bundle import META_FILE
from ..outputs import replaceable_folder
from ..train.distributed import init_distributed
from ..train.crops import RandomCrops
from ..train.generative import GenerativeTask, GenerativeTrainer, SampleGrids, finished_run, resume_state
from .decoder import (DECODER_FORMAT, WEIGHTS_FILE, build_decoder, default_layer, save_decoder_bundle,
                      style_layers_for)
from .extractor import DEFAULT_EXTRACTOR, Extractor, load_extractor
from .losses import adain, channel_stats, moment_loss, tv_loss

__all__ = ["AdainTask", "AdainTrainConfig", "train_decoder"]

log = logging.getLogger(__name__)


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
    tv_weight: float = 0.0
    """Weight of a total-variation penalty on the decoded image (0: none, as in the paper). A small one
    suppresses the stripes a strided, depthwise encoder lets through its losses unseen."""
    ema_decay: float = 0.0
    """Decay of an exponential moving average of the decoder's weights (e.g. 0.999; 0: none). With one,
    the sample grids and the bundle hold the averaged weights."""
    amp: str = field(default="auto", metadata={"choices": AMP_MODES})
    """Mixed precision (``auto``: on a GPU); the losses stay in float32."""
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
        if min(self.content_weight, self.style_weight, self.tv_weight) < 0:
            raise ArtlensError("--content-weight, --style-weight and --tv-weight must be non-negative")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ArtlensError(f"--ema-decay must be in [0, 1), got {self.ema_decay}")
        if self.amp not in AMP_MODES:
            raise ArtlensError(f"--amp {self.amp!r}: choose one of {', '.join(AMP_MODES)}")


def _image_list(folder: str, what: str) -> list[Path]:
    path = Path(folder)
    if not folder or not path.is_dir():
        raise ArtlensError(f"--{what} {folder or '(missing)'}: not a folder of images")
    files = iter_image_files(path)
    if not files:
        raise ArtlensError(f"--{what} {folder}: no image files found")
    return files


class AdainTask(GenerativeTask):
    """One step: encode random content and style crops, AdaIN, decode, and score the decoding with the
    encoder (content loss on the AdaIN target, style loss on the channel statistics of ``style_layers``)."""

    loss_names = ("content", "style", "tv", "total")

    def __init__(self, cfg: AdainTrainConfig, extractor: Extractor, decoder: nn.Module, *, layer: str,
                 contents: RandomCrops, styles: RandomCrops) -> None:
        self.cfg, self.extractor, self.layer = cfg, extractor, layer
        self.style_layers = style_layers_for(extractor, layer)
        self.contents, self.styles = contents, styles
        self.device = extractor.mean.device
        self.models = {"decoder": decoder}
        opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr)
        self.optimizers = {"total": opt}
        # The reference's inverse-time decay: lr / (1 + lr_decay * step) at step ``step`` (0-based).
        self.schedulers = {"lr": torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1.0 + cfg.lr_decay * s))}
        # The same crops in every sample grid, at every step and after every resume.
        self.fixed = (contents.fixed(3).to(self.device), styles.fixed(3).to(self.device))

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.contents.batch(self.cfg.batch_size).to(self.device),
                self.styles.batch(self.cfg.batch_size).to(self.device))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor],
                      nets: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
        c, s = batch
        layer, names = self.layer, self.style_layers
        with torch.no_grad():
            c_feat = self.extractor(c, [layer])[layer]
            s_feats = self.extractor(s, names)
            t = adain(c_feat, *channel_stats(s_feats[layer]))
        out = nets["decoder"](t)
        g_feats = self.extractor(out, names)
        # Losses in float32 under AMP too: channel statistics of half-precision maps lose the small stds.
        loss_c = F.mse_loss(g_feats[layer].float(), t.float())
        loss_s = moment_loss([g_feats[n].float() for n in names], [s_feats[n].float() for n in names])
        loss_tv = tv_loss(out.float())
        total = self.cfg.content_weight * loss_c + self.cfg.style_weight * loss_s + self.cfg.tv_weight * loss_tv
        return {"content": loss_c, "style": loss_s, "tv": loss_tv, "total": total}

    def sample(self, nets: Mapping[str, nn.Module]) -> tuple[torch.Tensor, int]:
        """Rows: content crops; columns: the content, then each style applied (first row: the styles)."""
        contents, styles = self.fixed
        encode = lambda x: self.extractor(x, [self.layer])[self.layer]  # noqa: E731
        c_feat = encode(contents)  # one encoder pass per set and one decoder pass for the whole grid
        s_mean, s_std = channel_stats(encode(styles))
        n, m = len(contents), len(styles)
        targets = adain(c_feat.repeat_interleave(m, 0), s_mean.repeat(n, 1, 1, 1), s_std.repeat(n, 1, 1, 1))
        out = nets["decoder"](targets).float().clamp(0, 1)
        out = F.interpolate(out, size=contents.shape[-2:], mode="bilinear", align_corners=False)
        tiles = [torch.ones_like(contents[0]), *styles]
        for i in range(n):
            tiles += [contents[i], *out[i * m:(i + 1) * m]]
        return torch.stack(tiles), m + 1

    def state_dict(self) -> dict:
        return {"content": self.contents.gen.get_state(), "style": self.styles.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.contents.gen.set_state(state["content"])
        self.styles.gen.set_state(state["style"])


def train_decoder(cfg: AdainTrainConfig, *, callback: Callable[[int, int, dict[str, float]], None] | None = None,
                  show_progress: bool = False) -> Path:
    """Train an AdaIN decoder (paper eq. 11-12); returns the bundle directory ``<out>/decoder``.

    Every ``checkpoint_every`` steps the decoder, optimiser, schedule, EMA, RNG and sampler state are
    written atomically to ``checkpoint.pt``; ``resume=True`` continues from it and reaches the same
    weights as an uninterrupted run. Resuming a run that has reached ``steps``, with its bundle saved,
    changes nothing (the bundle keeps its losses and timings); ``steps`` below the checkpoint's step is
    refused. ``callback(step, steps, losses)`` follows every step (the command's progress bar); under
    torchrun the processes train one decoder with DDP and rank 0 writes.
    """
    content_files, style_files = _image_list(cfg.content, "content"), _image_list(cfg.style, "style")
    out = Path(cfg.out)
    bundle = out / "decoder"
    state = resume_state(out, resume=cfg.resume, steps=cfg.steps)
    if state is not None:
        info = state["info"]
        same_run = info.get("encoder") == cfg.encoder and cfg.layer in (None, info.get("layer"))
        if same_run and finished_run(out, state, cfg.steps, bundle, format=DECODER_FORMAT):
            return bundle
    ctx, device_name = init_distributed(cfg.device)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        replaceable_folder(bundle, keep=(WEIGHTS_FILE, META_FILE))  # the bundle replaces it at the end
    device = default_device(device_name)
    extractor = load_extractor(cfg.encoder, weights=cfg.weights, device=device, option="--encoder")
    layer = cfg.layer or default_layer(extractor)
    if state is not None and (state["info"].get("encoder"), state["info"].get("layer")) != (cfg.encoder, layer):
        raise ArtlensError(f"{out / 'checkpoint.pt'}: was trained with encoder {state['info'].get('encoder')!r} "
                           f"layer {state['info'].get('layer')!r}, not {cfg.encoder!r} {layer!r}")
    torch.manual_seed(cfg.seed)
    decoder, spec = build_decoder(extractor, layer)
    decoder.to(device).train()
    # Each process draws its own crops; one process draws exactly what a single-process run does.
    rank_seed = cfg.seed + 2 * ctx.rank
    contents = RandomCrops(content_files, cfg.size, cfg.load_size, torch.Generator().manual_seed(rank_seed))
    styles = RandomCrops(style_files, cfg.size, cfg.load_size, torch.Generator().manual_seed(rank_seed + 1))
    task = AdainTask(cfg, extractor, decoder, layer=layer, contents=contents, styles=styles)
    report = [(lambda _trainer, step, losses: callback(step, cfg.steps, losses))] if callback else []
    trainer = GenerativeTrainer(
        task, out=out, steps=cfg.steps, checkpoint_every=cfg.checkpoint_every, ema_decay=cfg.ema_decay,
        amp=cfg.amp == "on" or (cfg.amp == "auto" and device.type == "cuda"), device=device, ctx=ctx,
        callbacks=[*report, SampleGrids(cfg.sample_every)], show_progress=show_progress, description="adain-train",
        info={"encoder": cfg.encoder, "layer": layer})
    run = trainer.fit(state)
    ctx.barrier()
    if not ctx.is_main:
        return bundle
    training = {"content": f"{cfg.content} ({len(content_files)} images)",
                "style": f"{cfg.style} ({len(style_files)} images)",
                **{k: v for k, v in asdict(cfg).items() if k not in ("content", "style", "out", "resume")}}
    meta = {"encoder": cfg.encoder, "encoder_weights": cfg.weights, "encoder_pretrained_from":
            extractor.backbone.pretrained_from, "layer": layer, "style_layers": task.style_layers, "decoder": spec,
            "steps": cfg.steps, "training": training, "losses": run.losses, "seconds_this_session": run.seconds}
    return save_decoder_bundle(run.models["decoder"], bundle, meta)
