"""Training a class-conditional diffusion model on any labelled images, on :mod:`artlens.train.generative`.

The data is whatever artlens reads (a folder tree, a manifest, a published layout such as ``artbench10``,
including its 32 px python release), split as ``artlens train`` splits it; the training split is decoded
once into a ``uint8`` tensor at ``size`` px (32 px ArtBench-10's 50,000 images are 150 MB), so a step
costs only the network. :class:`DiffusionTask` is one step of Ho et al.'s simple loss with the label
dropped to the null class with probability ``p_uncond``; the engine owns the loop, checkpoints,
``--resume``, EMA, AMP, DDP, ``log.csv`` and the per-class sample grids (DDIM). The bundle is
``model.safetensors`` + ``artlens.json`` (format :data:`~artlens.models.bundle.DIFFUSION_FORMAT`, task
``diffusion``), read back by :func:`load_diffusion_bundle`.

>>> from artlens.diffusion import DiffusionTrainConfig, train_diffusion
>>> cfg = DiffusionTrainConfig(data="artbench-10-python", dataset="artbench10", size=32, out="runs/diffusion")
>>> bundle = train_diffusion(cfg)                                        # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._version import __version__
from ..config import AMP_MODES, DataConfig
from ..data.dataset import Collection, Sample, load_collection
from ..data.images import UnreadableImage, load_image
from ..errors import ArtlensError
from ..inference import default_device
from ..models.bundle import DIFFUSION_FORMAT, META_FILE, WEIGHTS_FILE, read_bundle_meta, write_bundle_dir
from ..outputs import replaceable_folder
from ..progress import progress_bar
from ..train.distributed import init_distributed
from ..train.generative import GenerativeTask, GenerativeTrainer, SampleGrids, finished_run, resume_state
from .process import PREDICTIONS, SCHEDULES, GaussianDiffusion
from .unet import ClassUNet, UNetConfig

__all__ = ["DiffusionModel", "DiffusionTask", "DiffusionTrainConfig", "load_diffusion_bundle", "load_images",
           "save_diffusion_bundle", "split_collection", "train_diffusion"]

log = logging.getLogger(__name__)

BUNDLE_DIR = "model"


@dataclass
class DiffusionTrainConfig:
    """``artlens diffusion train``: the data, the denoiser, the process and the schedule of one run."""

    data: str = ""
    """A folder tree (one sub-folder per class), a CSV/TSV manifest, or the root of a published dataset."""
    dataset: str = "auto"
    """``auto`` or a published layout from ``artlens datasets`` (``artbench10`` reads its 32 px python release)."""
    dataset_options: dict[str, Any] = field(default_factory=dict)
    """Options of that layout, e.g. ``classes=[ukiyo_e,surrealism]`` for ``artbench10``."""
    classes: list[str] = field(default_factory=list)
    """Keep only these labels (empty: all), e.g. ``Ukiyo_e,Pointillism``."""
    max_per_class: int | None = None
    """At most N images per class (and split), drawn with ``split_seed``: a quick run."""
    val_fraction: float = 0.1
    """Share of each class held out (when the data has no split) to fit the classifier's temperature."""
    test_fraction: float = 0.1
    """Share of each class held out (when the data has no split) for the zero-shot test."""
    split_seed: int = 0
    """Seed of that split; ``artlens diffusion classify`` reuses it to find the same held-out images."""
    out: str = "runs/diffusion"
    """Run folder: ``checkpoint.pt``, ``log.csv``, ``samples/`` and the bundle in ``model/``."""
    size: int = 32
    """Image side in pixels (the study: 32)."""
    flip: bool = True
    """Random horizontal flips (the study flipped its training images)."""
    unet: UNetConfig = field(default_factory=UNetConfig)
    timesteps: int = 4000
    """Diffusion steps T (the study's best: 4000)."""
    schedule: str = field(default="cosine", metadata={"choices": ("linear", "cosine")})
    """Noise schedule (the study's best: cosine)."""
    prediction: str = field(default="eps", metadata={"choices": PREDICTIONS})
    """What the network predicts: the noise ``eps`` or the velocity ``v``."""
    p_uncond: float = 0.1
    """Probability of training a step's image with the null class (classifier-free guidance; 0: never)."""
    steps: int = 100000
    """Optimiser steps."""
    batch_size: int = 128
    """Images per step (per process under torchrun)."""
    lr: float = 2e-4
    """Adam's learning rate."""
    warmup: int = 1000
    """Steps of linear learning-rate warm-up."""
    ema_decay: float = 0.9999
    """Decay of the EMA of the weights that the bundle and the samples use (0: none)."""
    amp: str = field(default="auto", metadata={"choices": AMP_MODES})
    """Mixed precision (``auto``: on a GPU)."""
    checkpoint_every: int = 1000
    """Write ``checkpoint.pt`` every N steps."""
    sample_every: int = 5000
    """Write a per-class sample grid (``samples/stepNNNNNN.png``) every N steps."""
    samples_per_class: int = 8
    """Columns of the sample grid: images per class (one row per class)."""
    sample_steps: int = 50
    """DDIM steps of each sample."""
    guidance: float = 1.0
    """Classifier-free guidance scale of the samples (1: none; needs ``p_uncond`` > 0)."""
    device: str = "auto"
    seed: int = 0
    """Seed of the first weights, the batches and the noise."""
    resume: bool = False
    """Continue from ``<out>/checkpoint.pt``."""

    def __post_init__(self) -> None:
        if isinstance(self.unet, dict):
            self.unet = UNetConfig(**self.unet)
        for name in ("steps", "batch_size", "checkpoint_every", "sample_every", "samples_per_class", "sample_steps"):
            if getattr(self, name) < 1:
                raise ArtlensError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.size < 8:
            raise ArtlensError(f"--size must be at least 8 px, got {self.size}")
        if self.warmup < 0 or self.lr <= 0:
            raise ArtlensError("--warmup must be >= 0 and --lr > 0")
        if not 0.0 <= self.p_uncond < 1.0:
            raise ArtlensError(f"--p-uncond must be in [0, 1), got {self.p_uncond}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ArtlensError(f"--ema-decay must be in [0, 1), got {self.ema_decay}")
        if self.schedule not in SCHEDULES:
            raise ArtlensError(f"--schedule {self.schedule!r}: {SCHEDULES.unknown_message(self.schedule)}")
        if self.prediction not in PREDICTIONS:
            raise ArtlensError(f"--prediction {self.prediction!r}: choose one of {', '.join(PREDICTIONS)}")
        if self.amp not in AMP_MODES:
            raise ArtlensError(f"--amp {self.amp!r}: choose one of {', '.join(AMP_MODES)}")
        if self.timesteps < 2:
            raise ArtlensError(f"--timesteps must be at least 2, got {self.timesteps}")

    def data_record(self) -> dict[str, Any]:
        """How the images were found and split: stored in the bundle so ``classify`` finds the same split."""
        return {"path": self.data, "dataset": self.dataset, "dataset_options": self.dataset_options,
                "classes": self.classes, "max_per_class": self.max_per_class, "val_fraction": self.val_fraction,
                "test_fraction": self.test_fraction, "split_seed": self.split_seed}


def split_collection(record: Mapping[str, Any], *, path: str | None = None, dataset: str | None = None,
                     dataset_options: Mapping[str, Any] | None = None) -> Collection:
    """The collection described by a :meth:`DiffusionTrainConfig.data_record`, split the same way (the
    ``path``, ``dataset`` and ``dataset_options`` given override the record's: the same data moved)."""
    cfg = DataConfig(path=str(path or record["path"]), dataset=dataset or record.get("dataset", "auto"),
                     dataset_options=dict(dataset_options if dataset_options is not None
                                          else record.get("dataset_options") or {}),
                     val_fraction=record.get("val_fraction", 0.1), test_fraction=record.get("test_fraction", 0.1),
                     seed=record.get("split_seed", 0), max_per_class=record.get("max_per_class"))
    collection = load_collection(cfg)
    wanted = list(record.get("classes") or [])
    if wanted:
        missing = [c for c in wanted if c not in collection.classes]
        if missing:
            raise ArtlensError(f"{cfg.path}: --classes {', '.join(missing)} not in the data; it has "
                               f"{', '.join(collection.classes)}")
        collection.samples = [s for s in collection.samples if s.label in set(wanted)]
        collection.classes = sorted(wanted)
    return collection


def load_images(samples: list[Sample], size: int, *, show_progress: bool = False,
                description: str = "decode") -> tuple[torch.Tensor, list[int], list[str]]:
    """``(uint8 N x 3 x size x size, indices of the samples decoded, "path: reason" of those skipped)``.

    Each image is resized so its shorter side is ``size`` and centre-cropped (Pillow's ``ImageOps.fit``);
    an unreadable file is counted and left out, never a crash.
    """
    import numpy as np
    from PIL import Image, ImageOps

    images, kept, skipped = [], [], []
    with progress_bar(len(samples), description, enabled=show_progress) as advance:
        for i, s in enumerate(samples):
            try:
                img = load_image(s.path, draft_size=size)
            except UnreadableImage as err:
                skipped.append(f"{err.path}: {err.reason}")
                advance(1)
                continue
            arr = np.asarray(ImageOps.fit(img, (size, size), Image.Resampling.BICUBIC), dtype=np.uint8)
            images.append(torch.from_numpy(arr.copy()).permute(2, 0, 1))
            kept.append(i)
            advance(1)
    stacked = torch.stack(images) if images else torch.zeros(0, 3, size, size, dtype=torch.uint8)
    return stacked, kept, skipped


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` in ``[0, 255]`` to float in ``[-1, 1]``, the range the process assumes."""
    return images.float().div(127.5).sub(1.0)


@dataclass
class DiffusionModel:
    """A loaded bundle: the denoiser, its process, the class names and the image side."""

    denoiser: ClassUNet
    diffusion: GaussianDiffusion
    classes: list[str]
    size: int
    meta: dict[str, Any]
    path: Path | None = None

    def to(self, device: str | torch.device) -> DiffusionModel:
        self.denoiser.to(device)
        self.diffusion.to(device)
        return self


def build_model(unet: UNetConfig, *, classes: int, size: int, timesteps: int, schedule: str,
                prediction: str) -> tuple[ClassUNet, GaussianDiffusion]:
    return (ClassUNet(unet, num_classes=classes, image_size=size),
            GaussianDiffusion(timesteps=timesteps, schedule=schedule, prediction=prediction))


def save_diffusion_bundle(denoiser: ClassUNet, diffusion: GaussianDiffusion, classes: list[str],
                          path: str | os.PathLike, meta: Mapping[str, Any]) -> Path:
    """``model.safetensors`` + ``artlens.json`` (task ``diffusion``), written atomically."""
    path = Path(path)
    full = {"format": DIFFUSION_FORMAT, "task": "diffusion", "name": path.name, "artlens_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "classes": list(classes),
            "image_size": denoiser.image_size, "unet": asdict(denoiser.cfg), "diffusion": diffusion.spec(),
            "null_class": denoiser.num_classes, "params": sum(p.numel() for p in denoiser.parameters()), **meta}
    state = {k: v.detach().cpu().contiguous() for k, v in denoiser.state_dict().items()}
    return write_bundle_dir(path, state, full, weights_file=WEIGHTS_FILE)


def load_diffusion_bundle(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> DiffusionModel:
    """Rebuild the denoiser and process described by the bundle's ``artlens.json`` and load its tensors
    (safetensors: loading runs no code)."""
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_bundle_meta(path, format=DIFFUSION_FORMAT)
    try:
        denoiser, diffusion = build_model(UNetConfig(**meta["unet"]), classes=len(meta["classes"]),
                                          size=int(meta["image_size"]), **meta["diffusion"])
    except (KeyError, TypeError) as err:
        raise ArtlensError(f"{path / META_FILE}: artlens {__version__} cannot read it "
                           f"({type(err).__name__}: {err})") from None
    try:
        denoiser.load_state_dict(load_file(str(path / WEIGHTS_FILE)), strict=True)
    except Exception as err:  # noqa: BLE001 - safetensors and load_state_dict raise several types
        raise ArtlensError(f"{path / WEIGHTS_FILE}: does not match the denoiser in {META_FILE} "
                           f"({str(err).splitlines()[0]})") from None
    return DiffusionModel(denoiser.eval(), diffusion, list(meta["classes"]), int(meta["image_size"]), meta,
                          path).to(device)


class _Batches:
    """Random (image, label) batches of the decoded training set from one checkpointed generator."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int, flip: bool, p_uncond: float,
                 null_class: int, gen: torch.Generator) -> None:
        self.images, self.labels, self.gen = images, labels, gen
        self.batch_size, self.flip, self.p_uncond, self.null_class = batch_size, flip, p_uncond, null_class

    def draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(self.images), (self.batch_size,), generator=self.gen)
        x, y = to_model_range(self.images[idx]), self.labels[idx].clone()
        if self.flip:
            flip = torch.rand(self.batch_size, generator=self.gen) < 0.5
            x[flip] = x[flip].flip(-1)
        if self.p_uncond > 0:
            y[torch.rand(self.batch_size, generator=self.gen) < self.p_uncond] = self.null_class
        return x, y


class DiffusionTask(GenerativeTask):
    """One step: the simple loss of a random batch at random timesteps; samples: one row per class."""

    loss_names = ("loss",)

    def __init__(self, cfg: DiffusionTrainConfig, denoiser: ClassUNet, diffusion: GaussianDiffusion,
                 batches: _Batches, device: torch.device) -> None:
        self.cfg, self.diffusion, self.batches, self.device = cfg, diffusion.to(device), batches, device
        self.models = {"denoiser": denoiser}
        opt = torch.optim.Adam(denoiser.parameters(), lr=cfg.lr)
        self.optimizers = {"loss": opt}
        warmup = max(cfg.warmup, 1)
        self.schedulers = {"lr": torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))}

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batches.draw()
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor],
                      nets: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"loss": self.diffusion.loss(nets["denoiser"], x, y)}

    def sample(self, nets: Mapping[str, nn.Module]) -> tuple[torch.Tensor, int]:
        """``samples_per_class`` DDIM samples per class, one row per class, column ``j`` of every row from
        the same starting noise (so a column compares the classes); the same noise at every step and resume."""
        net = nets["denoiser"]
        classes, n, size = net.num_classes, self.cfg.samples_per_class, self.cfg.size
        gen = torch.Generator().manual_seed(self.cfg.seed + 12345)
        noise = torch.randn((n, 3, size, size), generator=gen).repeat(classes, 1, 1, 1).to(self.device)
        y = torch.arange(classes, device=self.device).repeat_interleave(n)
        x = self.diffusion.ddim_sample(net, y, noise, steps=self.cfg.sample_steps, guidance=self.cfg.guidance,
                                       null_class=net.num_classes)
        return (x.float() + 1) / 2, n

    def state_dict(self) -> dict:
        return {"batches": self.batches.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.batches.gen.set_state(state["batches"])


def train_diffusion(cfg: DiffusionTrainConfig, *, callback: Callable[[int, int, dict[str, float]], None] | None = None,
                    show_progress: bool = False) -> Path:
    """Train a class-conditional diffusion model on ``cfg.data``'s training split; returns the bundle folder.

    Checkpoints every ``checkpoint_every`` steps hold the denoiser, optimiser, schedule, EMA, RNG and
    batch-sampler state; ``resume=True`` continues to the uninterrupted run's weights. ``callback(step,
    steps, losses)`` follows every step (the command's progress bar). Under torchrun every process draws
    its own batches and rank 0 writes.
    """
    out = Path(cfg.out)
    bundle = out / BUNDLE_DIR
    state = resume_state(out, resume=cfg.resume, steps=cfg.steps)
    if finished_run(out, state, cfg.steps, bundle, format=DIFFUSION_FORMAT):
        return bundle
    collection = split_collection(cfg.data_record())
    train = collection.split("train")
    ctx, device_name = init_distributed(cfg.device)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        replaceable_folder(bundle, keep=(WEIGHTS_FILE, META_FILE))
    device = default_device(device_name)
    images, kept, skipped = load_images(train, cfg.size, show_progress=show_progress and ctx.is_main)
    if skipped:
        log.warning("skipped %d unreadable training image(s), e.g. %s", len(skipped), skipped[0])
    if not kept:
        raise ArtlensError(f"{cfg.data}: none of the {len(train)} training images could be read")
    index = {c: i for i, c in enumerate(collection.classes)}
    labels = torch.tensor([index[train[i].label] for i in kept])
    info = {"classes": collection.classes, "size": cfg.size, "unet": asdict(cfg.unet), "timesteps": cfg.timesteps,
            "schedule": cfg.schedule, "prediction": cfg.prediction}
    if state is not None and state["info"] != info:
        changed = sorted(k for k in info if state["info"].get(k) != info[k])
        raise ArtlensError(f"{out / 'checkpoint.pt'}: was trained with other {', '.join(changed)}; resume with the "
                           "same data and model options, or choose another --out")
    torch.manual_seed(cfg.seed)
    denoiser, diffusion = build_model(cfg.unet, classes=len(collection.classes), size=cfg.size,
                                      timesteps=cfg.timesteps, schedule=cfg.schedule, prediction=cfg.prediction)
    denoiser.to(device).train()
    batches = _Batches(images, labels, batch_size=cfg.batch_size, flip=cfg.flip, p_uncond=cfg.p_uncond,
                       null_class=len(collection.classes),
                       gen=torch.Generator().manual_seed(cfg.seed + 7919 * ctx.rank))
    task = DiffusionTask(cfg, denoiser, diffusion, batches, device)
    report = [(lambda _trainer, step, losses: callback(step, cfg.steps, losses))] if callback else []
    trainer = GenerativeTrainer(
        task, out=out, steps=cfg.steps, checkpoint_every=cfg.checkpoint_every, ema_decay=cfg.ema_decay,
        amp=cfg.amp == "on" or (cfg.amp == "auto" and device.type == "cuda"), device=device, ctx=ctx,
        callbacks=[*report, SampleGrids(cfg.sample_every)], show_progress=show_progress, description="diffusion",
        info=info)
    run = trainer.fit(state)
    ctx.barrier()
    if not ctx.is_main:
        return bundle
    counts = collection.counts()
    training = {k: v for k, v in asdict(cfg).items() if k not in ("out", "resume", "unet")}
    meta = {"data": cfg.data_record(), "data_fingerprint": collection.fingerprint(), "counts": counts,
            "skipped": skipped, "steps": cfg.steps, "training": training, "losses": run.losses,
            "seconds_this_session": run.seconds}
    return save_diffusion_bundle(run.models["denoiser"], diffusion, collection.classes, bundle, meta)
