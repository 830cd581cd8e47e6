"""Training a CycleGAN (Zhu et al. 2017) on :mod:`artlens.train.generative`: unpaired domain A <-> domain B.

The paper's recipe: two ResNet generators (A->B, B->A) and two 70x70 PatchGAN discriminators, a
least-squares adversarial loss, a cycle-consistency loss (L1, weight 10 each way) and an identity
loss (0.5 x that weight), discriminators trained on a pool of 50 earlier fakes with their loss
halved, Adam (2e-4, beta1 0.5) with the learning rate constant and then falling linearly to zero.
:class:`CycleGANTask` is that recipe as a :class:`~artlens.train.generative.GenerativeTask` (the
generators' optimiser first, then the discriminators'); the engine owns the loop, checkpoints, resume,
EMA, AMP, DDP, ``log.csv`` and the sample grids, and :func:`train_cyclegan` saves both generators as one
image-translation bundle (:mod:`artlens.translate.bundle`).

>>> from artlens.translate import CycleGANConfig, train_cyclegan
>>> cfg = CycleGANConfig(a=["photos/"], b=["impressionism/", "monet/"], out="runs/photo2monet", steps=100000)
>>> result = train_cyclegan(cfg)                                             # doctest: +SKIP
>>> result.bundle                                                            # doctest: +SKIP
PosixPath('runs/photo2monet/model')
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import AMP_MODES
from ..data.images import iter_image_files
from ..data.samples import read_utf8
from ..errors import ArtlensError
from ..inference import default_device
from ..models.bundle import BUNDLE_FORMAT, META_FILE, WEIGHTS_FILE, read_bundle_meta
from ..outputs import replaceable_folder
from ..train.crops import RandomCrops
from ..train.distributed import init_distributed
from ..train.generative import LOG_FILE, GenerativeTask, GenerativeTrainer, SampleGrids, finished_run, resume_state
from .bundle import save_translator_bundle
from .networks import UPSAMPLING, ImagePool, PatchDiscriminator, ResnetGenerator, init_weights, to_signed, to_unit

__all__ = ["CURVES_FILE", "CycleGANConfig", "CycleGANResult", "CycleGANTask", "LossCurves", "domain_files",
           "train_cyclegan"]

log = logging.getLogger(__name__)

CURVES_FILE = "losses.png"


@dataclass
class CycleGANConfig:
    """``artlens cyclegan train``: the paper's recipe, scaled by flags."""

    a: list[str] = field(default_factory=list)
    """Domain A (e.g. photos): folders searched recursively, or CSV/TSV manifests with a ``path`` column;
    comma-separated for several."""
    b: list[str] = field(default_factory=list)
    """Domain B (e.g. paintings), as ``a``."""
    out: str = "runs/cyclegan"
    """Run folder: ``checkpoint.pt``, ``log.csv``, ``losses.png``, ``samples/`` and the bundle in ``model/``."""
    steps: int = 100000
    """Training iterations (the paper: 200 epochs of its datasets at batch size 1)."""
    batch_size: int = 1
    """Images of each domain per step (the paper: 1)."""
    size: int = 256
    """Random crop side (a multiple of 4)."""
    load_size: int = 286
    """Shorter side images are resized to before cropping (the paper: 286 for 256 crops)."""
    ngf: int = 64
    """Generator width (filters of its first layer)."""
    ndf: int = 64
    """Discriminator width."""
    n_blocks: int = 9
    """Residual blocks of each generator (the paper: 9 for 256 px crops, 6 for 128 px)."""
    upsample: str = field(default="transpose", metadata={"choices": UPSAMPLING})
    """How the generators double their resolution: ``transpose`` (the paper's transposed convolutions) or
    ``resize`` (nearest-neighbour doubling, then a convolution, which writes every pixel alike: on the
    built-in recipe it took two thirds of the photo -> painting checkerboard away, docs/style.md)."""
    lr: float = 2e-4
    """Adam's learning rate, for all four networks."""
    beta1: float = 0.5
    """Adam's beta1."""
    decay_fraction: float = 0.5
    """Share of the steps, at the end, over which the learning rate falls linearly to zero (the paper: half)."""
    cycle_weight: float = 10.0
    """Weight of each cycle-consistency loss, |G_BA(G_AB(a)) - a| and |G_AB(G_BA(b)) - b| (the paper: 10)."""
    identity_weight: float = 0.5
    """Weight of the identity losses |G_AB(b) - b| and |G_BA(a) - a|, as a multiple of ``cycle_weight``
    (the paper: 0.5 for painting<->photo, to keep colours; 0: none)."""
    pool_size: int = 50
    """Earlier fakes each discriminator is also shown (0: only the latest)."""
    ema_decay: float = 0.0
    """Decay of an exponential moving average of the generators' weights (e.g. 0.999; 0: none). With one,
    the sample grids and the bundle hold the averaged generators."""
    amp: str = field(default="auto", metadata={"choices": AMP_MODES})
    """Mixed precision (``auto``: on a GPU); the losses stay in float32."""
    checkpoint_every: int = 1000
    """Write ``checkpoint.pt`` every N steps."""
    sample_every: int = 0
    """Write a sample grid and ``losses.png`` every N steps (0: once per epoch, the larger domain's images
    divided by the batch size)."""
    device: str = "cpu"
    seed: int = 0
    """Seed of the first weights, the image order, the crops and flips."""
    resume: bool = False
    """Continue from ``<out>/checkpoint.pt``."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "ngf", "ndf"):
            if getattr(self, name) < 1:
                raise ArtlensError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.size < 16 or self.size % 4 or self.load_size < self.size:
            raise ArtlensError(f"--size must be a multiple of 4 from 16 up and --load-size >= --size "
                               f"(got {self.size}, {self.load_size})")
        if self.n_blocks < 0 or self.pool_size < 0 or self.sample_every < 0:
            raise ArtlensError("--n-blocks, --pool-size and --sample-every must be >= 0")
        if not 0.0 <= self.decay_fraction <= 1.0:
            raise ArtlensError(f"--decay-fraction must be in [0, 1], got {self.decay_fraction}")
        if self.cycle_weight < 0 or self.identity_weight < 0:
            raise ArtlensError("--cycle-weight and --identity-weight must be >= 0")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ArtlensError(f"--ema-decay must be in [0, 1), got {self.ema_decay}")
        if self.upsample not in UPSAMPLING:
            raise ArtlensError(f"--upsample {self.upsample!r}: choose one of {', '.join(UPSAMPLING)}")
        if self.amp not in AMP_MODES:
            raise ArtlensError(f"--amp {self.amp!r}: choose one of {', '.join(AMP_MODES)}")


def _manifest_paths(path: Path) -> list[Path]:
    """The ``path`` column of a CSV/TSV manifest (relative paths are relative to the manifest)."""
    lines = read_utf8(path, "the manifest").splitlines()
    if not lines:
        raise ArtlensError(f"{path}: manifest is empty (expected a header with a 'path' column)")
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in lines[0] else ","
    reader = csv.DictReader(lines, delimiter=delimiter)
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    if "path" not in columns:
        raise ArtlensError(f"{path}: manifest needs a 'path' column, found: {', '.join(reader.fieldnames or [])}")
    out = []
    for row in reader:
        raw = (row.get(columns["path"]) or "").strip()
        if raw:
            p = Path(raw)
            out.append(p if p.is_absolute() else path.parent / p)
    return out


def domain_files(sources: list[str], flag: str) -> list[Path]:
    """The image files of one domain: every folder (recursively) and manifest of ``sources``, in order."""
    if not sources:
        raise ArtlensError(f"--{flag} is required: a folder of images or a CSV/TSV manifest (comma-separated for several)")
    files: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            found = iter_image_files(p)
            if not found:
                raise ArtlensError(f"--{flag} {src}: no image files found")
            files += found
        elif p.is_file():
            found = _manifest_paths(p)
            if not found:
                raise ArtlensError(f"--{flag} {src}: manifest lists no images")
            files += found
        else:
            raise ArtlensError(f"--{flag} {src}: no such folder or manifest")
    return list(dict.fromkeys(files))


def linear_decay(steps: int, decay_fraction: float) -> Callable[[int], float]:
    """The paper's schedule as a ``LambdaLR`` factor: 1 for the first steps, then linearly to 0 at ``steps``."""
    decay = max(1, round(steps * decay_fraction))
    start = steps - decay

    def factor(step: int) -> float:
        return 1.0 - max(0, step - start) / decay if decay_fraction > 0 else 1.0

    return factor


def _lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """The least-squares GAN loss (Mao et al. 2017), the paper's choice over the log loss."""
    pred = pred.float()
    return F.mse_loss(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))


class CycleGANTask(GenerativeTask):
    """One step: translate both ways, reconstruct, score with the discriminators; then the discriminators
    on real images and pooled fakes. Losses are logged per term; ``g`` and ``d`` are what the two
    optimisers minimise."""

    loss_names = ("gan_ab", "gan_ba", "cycle_a", "cycle_b", "idt_a", "idt_b", "g", "d_a", "d_b", "d")
    ema_names = ("g_ab", "g_ba")

    def __init__(self, cfg: CycleGANConfig, *, a: RandomCrops, b: RandomCrops, device: torch.device) -> None:
        self.cfg, self.a, self.b, self.device = cfg, a, b, device
        g_ab = init_weights(ResnetGenerator(ngf=cfg.ngf, n_blocks=cfg.n_blocks, upsample=cfg.upsample)).to(device)
        g_ba = init_weights(ResnetGenerator(ngf=cfg.ngf, n_blocks=cfg.n_blocks, upsample=cfg.upsample)).to(device)
        d_a = init_weights(PatchDiscriminator(ndf=cfg.ndf)).to(device)
        d_b = init_weights(PatchDiscriminator(ndf=cfg.ndf)).to(device)
        self.models = {"g_ab": g_ab, "g_ba": g_ba, "d_a": d_a, "d_b": d_b}
        betas = (cfg.beta1, 0.999)
        opt_g = torch.optim.Adam(itertools.chain(g_ab.parameters(), g_ba.parameters()), lr=cfg.lr, betas=betas)
        opt_d = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()), lr=cfg.lr, betas=betas)
        self.optimizers = {"g": opt_g, "d": opt_d}  # generators first: their loss needs the discriminators as they are
        factor = linear_decay(cfg.steps, cfg.decay_fraction)
        self.schedulers = {"g": torch.optim.lr_scheduler.LambdaLR(opt_g, factor),
                           "d": torch.optim.lr_scheduler.LambdaLR(opt_d, factor)}
        self.pools = {"a": ImagePool(cfg.pool_size), "b": ImagePool(cfg.pool_size)}
        # The same images in every sample grid, at every step and after every resume.
        n = min(3, len(a.files), len(b.files))
        self.fixed = (to_signed(a.fixed(n)).to(device), to_signed(b.fixed(n)).to(device))

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (to_signed(self.a.batch(self.cfg.batch_size)).to(self.device),
                to_signed(self.b.batch(self.cfg.batch_size)).to(self.device))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor],
                      nets: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
        real_a, real_b = batch
        n, cfg = len(real_a), self.cfg
        lam, lam_idt = cfg.cycle_weight, cfg.cycle_weight * cfg.identity_weight
        idt = lam_idt > 0
        # One pass per generator over everything it translates (instance norm is per image, so batching
        # them changes nothing): G_AB(a) and G_AB(b) (identity), G_BA(b), G_BA(a) and G_BA(G_AB(a)) (cycle).
        out_ab = nets["g_ab"](torch.cat([real_a, real_b]) if idt else real_a)
        fake_b = out_ab[:n]
        out_ba = nets["g_ba"](torch.cat([real_b, fake_b, real_a]) if idt else torch.cat([real_b, fake_b]))
        fake_a, rec_a = out_ba[:n], out_ba[n:2 * n]
        rec_b = nets["g_ab"](fake_a)
        # The generators' loss sees the discriminators frozen (the reference's set_requires_grad): no
        # gradients for them here, and the raw modules, so DDP reduces the discriminators once per step.
        discs = (self.models["d_a"], self.models["d_b"])
        for p in itertools.chain(*(d.parameters() for d in discs)):
            p.requires_grad_(False)
        try:
            gan_ab = _lsgan(self.models["d_b"](fake_b), True)
            gan_ba = _lsgan(self.models["d_a"](fake_a), True)
        finally:
            for p in itertools.chain(*(d.parameters() for d in discs)):
                p.requires_grad_(True)
        cycle_a = F.l1_loss(rec_a.float(), real_a)
        cycle_b = F.l1_loss(rec_b.float(), real_b)
        zero = real_a.new_zeros(())
        idt_b = F.l1_loss(out_ab[n:].float(), real_b) if idt else zero  # G_AB keeps a B image as it is
        idt_a = F.l1_loss(out_ba[2 * n:].float(), real_a) if idt else zero  # G_BA keeps an A image
        g = gan_ab + gan_ba + lam * (cycle_a + cycle_b) + lam_idt * (idt_a + idt_b)
        # The discriminators: real images against fakes from the pool, halved (the paper, section 4).
        pooled_a, pooled_b = self.pools["a"].query(fake_a), self.pools["b"].query(fake_b)
        pred_a = nets["d_a"](torch.cat([real_a, pooled_a]))
        pred_b = nets["d_b"](torch.cat([real_b, pooled_b]))
        d_a = 0.5 * (_lsgan(pred_a[:n], True) + _lsgan(pred_a[n:], False))
        d_b = 0.5 * (_lsgan(pred_b[:n], True) + _lsgan(pred_b[n:], False))
        return {"gan_ab": gan_ab, "gan_ba": gan_ba, "cycle_a": cycle_a, "cycle_b": cycle_b, "idt_a": idt_a,
                "idt_b": idt_b, "g": g, "d_a": d_a, "d_b": d_b, "d": d_a + d_b}

    def sample(self, nets: Mapping[str, nn.Module]) -> tuple[torch.Tensor, int]:
        """One row per fixed pair: A, A->B, A->B->A, B, B->A, B->A->B."""
        a, b = self.fixed
        ab = nets["g_ab"](a)
        ba = nets["g_ba"](b)
        aba, bab = nets["g_ba"](ab), nets["g_ab"](ba)
        rows = [t for i in range(len(a)) for t in (a[i], ab[i], aba[i], b[i], ba[i], bab[i])]
        return to_unit(torch.stack(rows).float()), 6

    def state_dict(self) -> dict[str, Any]:
        return {"a": self.a.gen.get_state(), "b": self.b.gen.get_state(),
                "pools": {k: p.state_dict() for k, p in self.pools.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.a.gen.set_state(state["a"])
        self.b.gen.set_state(state["b"])
        for k, p in self.pools.items():
            p.load_state_dict(state["pools"][k], self.device)


class LossCurves:
    """A callback: ``<out>/losses.png`` (the generators' and discriminators' losses per step, from
    ``log.csv``, with a moving average) every ``every`` steps and at the last."""

    def __init__(self, every: int, groups: dict[str, tuple[str, ...]] | None = None) -> None:
        self.every = every
        self.groups = groups or {"adversarial": ("gan_ab", "gan_ba", "d_a", "d_b"),
                                 "cycle and identity": ("cycle_a", "cycle_b", "idt_a", "idt_b")}

    def __call__(self, trainer: GenerativeTrainer, step: int, losses: dict[str, float]) -> None:
        if step % self.every and step != trainer.steps:
            return
        plot_step_losses(trainer.out / LOG_FILE, trainer.out / CURVES_FILE, self.groups)


def plot_step_losses(log_csv: Path, path: Path, groups: dict[str, tuple[str, ...]]) -> Path:
    """One panel per group of ``log.csv`` columns: the raw losses faint, a moving average over them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    with log_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    steps = np.array([int(r["step"]) for r in rows])
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 3.8), squeeze=False)
    window = max(1, len(rows) // 50)
    for ax, (title, names) in zip(axes[0], groups.items()):
        for name in names:
            if not rows or name not in rows[0]:
                continue
            y = np.array([float(r[name]) for r in rows])
            line, = ax.plot(steps, y, alpha=0.25, lw=0.8)
            if window > 1:
                smooth = np.convolve(y, np.ones(window) / window, mode="valid")
                ax.plot(steps[window - 1:], smooth, color=line.get_color(), lw=1.6, label=name)
            else:
                line.set_alpha(1.0)
                line.set_label(name)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


@dataclass
class CycleGANResult:
    """What :func:`train_cyclegan` leaves: the bundle, the step reached, the last losses, this session's seconds."""

    bundle: Path
    steps: int
    losses: dict[str, float]
    seconds: float
    samples: Path
    curves: Path


ARCH_FIELDS = ("ngf", "ndf", "n_blocks", "upsample")


def train_cyclegan(cfg: CycleGANConfig, *, callback: Callable[[int, int, dict[str, float]], None] | None = None,
                   show_progress: bool = False) -> CycleGANResult:
    """Train a CycleGAN between ``cfg.a`` and ``cfg.b``; the bundle goes to ``<out>/model``.

    Every ``checkpoint_every`` steps the four networks, both optimisers and schedules, the EMA, the
    image pools, RNG and sampler state are written atomically to ``checkpoint.pt``; ``resume=True``
    continues from it and reaches the same weights as an uninterrupted run. Resuming a finished run
    (bundle saved at ``steps``) changes nothing. ``callback(step, steps, losses)`` follows every step;
    under torchrun the processes train with DDP and rank 0 writes.
    """
    a_files, b_files = domain_files(cfg.a, "a"), domain_files(cfg.b, "b")
    out = Path(cfg.out)
    bundle = out / "model"
    sample_every = cfg.sample_every or max(1, math.ceil(max(len(a_files), len(b_files)) / cfg.batch_size))
    result = lambda losses, seconds: CycleGANResult(bundle, cfg.steps, losses, seconds,  # noqa: E731
                                                    out / "samples", out / CURVES_FILE)
    state = resume_state(out, resume=cfg.resume, steps=cfg.steps)
    arch = {k: getattr(cfg, k) for k in ARCH_FIELDS}
    if state is not None:
        # A checkpoint written before ``upsample`` existed used transposed convolutions.
        was = {k: state["info"].get(k, "transpose" if k == "upsample" else None) for k in ARCH_FIELDS}
        if was != arch:
            raise ArtlensError(f"{out / 'checkpoint.pt'}: was trained with {was}, not {arch}; resume with the same "
                               "--ngf, --ndf, --n-blocks and --upsample")
        if finished_run(out, state, cfg.steps, bundle, format=BUNDLE_FORMAT):
            return result(dict(read_bundle_meta(bundle).get("losses") or {}), 0.0)
    ctx, device_name = init_distributed(cfg.device)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        replaceable_folder(bundle, keep=(WEIGHTS_FILE, META_FILE))  # the bundle replaces it at the end
    device = default_device(device_name)
    torch.manual_seed(cfg.seed)
    # Each process draws its own crops; one process draws exactly what a single-process run does.
    rank_seed = cfg.seed + 2 * ctx.rank
    a = RandomCrops(a_files, cfg.size, cfg.load_size, torch.Generator().manual_seed(rank_seed), flip=True,
                    cache_limit=4096)
    b = RandomCrops(b_files, cfg.size, cfg.load_size, torch.Generator().manual_seed(rank_seed + 1), flip=True,
                    cache_limit=4096)
    task = CycleGANTask(cfg, a=a, b=b, device=device)
    report = [(lambda _trainer, step, losses: callback(step, cfg.steps, losses))] if callback else []
    trainer = GenerativeTrainer(
        task, out=out, steps=cfg.steps, checkpoint_every=cfg.checkpoint_every, ema_decay=cfg.ema_decay,
        amp=cfg.amp == "on" or (cfg.amp == "auto" and device.type == "cuda"), device=device, ctx=ctx,
        callbacks=[*report, SampleGrids(sample_every), LossCurves(sample_every)], show_progress=show_progress,
        description="cyclegan", info=arch)
    run = trainer.fit(state)
    ctx.barrier()
    if not ctx.is_main:
        return result(run.losses, run.seconds)
    training = {"a": [str(s) for s in cfg.a], "b": [str(s) for s in cfg.b],
                **{k: v for k, v in asdict(cfg).items() if k not in ("a", "b", "out", "resume")}}
    meta = {"generator": {"kind": "resnet", "ngf": cfg.ngf, "n_blocks": cfg.n_blocks, "upsample": cfg.upsample},
            "domains": {"a": f"{', '.join(cfg.a)} ({len(a_files)} images)",
                        "b": f"{', '.join(cfg.b)} ({len(b_files)} images)"},
            "directions": {"a2b": "domain A to domain B", "b2a": "domain B to domain A"},
            "steps": cfg.steps, "training": training, "losses": run.losses, "seconds_this_session": run.seconds}
    nets = run.models
    save_translator_bundle({"a2b": nets["g_ab"], "b2a": nets["g_ba"]}, bundle, meta)
    return result(run.losses, run.seconds)
