"""One engine for iterative training of generative models: AdaIN decoders today, CycleGANs and diffusion next.

What differs between those models is small: which networks train, which optimiser minimises which loss,
how a batch is drawn, what one step computes and what a sample shows. That is a
:class:`GenerativeTask`. Everything else is the same for all of them and lives here, in
:class:`GenerativeTrainer` (minGPT's ``Trainer`` with callbacks, in the spirit of Lightning Fabric):

* a step-based loop with rich progress (:func:`artlens.progress.progress_bar`), AMP on GPUs
  (``torch.autocast`` + ``GradScaler``) and DDP under torchrun (:class:`~artlens.train.distributed.DistContext`,
  as :func:`artlens.train.fit` uses it: every process trains on its own draws, rank 0 writes);
* atomic checkpoints (:func:`artlens.train.checkpoint.save_checkpoint`) holding the networks, optimisers,
  schedulers, AMP scaler, EMA, every process' RNG states (python, numpy, torch, CUDA) and data-sampler
  state, so that a resumed run reaches the uninterrupted run's weights (bit for bit on a CPU);
* ``log.csv`` with one row per step (rows a killed run wrote after its last checkpoint are dropped
  on resume, so every step appears once);
* an EMA of the weights (torch's ``AveragedModel``, as :func:`artlens.train.loop.new_ema`): samples
  and the returned networks are the averaged ones;
* callbacks after every step, such as :class:`SampleGrids` (a PNG grid of ``task.sample`` every N steps).

>>> import torch
>>> class Mean(GenerativeTask):                  # learns the mean of its data: the smallest generative model
...     loss_names = ("loss",)
...     def __init__(self):
...         self.models = {"net": torch.nn.Linear(1, 1)}
...         self.optimizers = {"loss": torch.optim.SGD(self.models["net"].parameters(), lr=0.1)}
...     def next_batch(self):
...         return torch.randn(8, 1) + 3.0
...     def training_step(self, batch, nets):
...         return {"loss": (nets["net"](torch.zeros(8, 1)) - batch).pow(2).mean()}
>>> import tempfile
>>> _ = torch.manual_seed(0)
>>> run = GenerativeTrainer(Mean(), out=tempfile.mkdtemp(), steps=200, checkpoint_every=100).fit()
>>> round(float(run.models["net"].bias.detach()), 0), run.step
(3.0, 200)
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ArtlensError
from ..models.bundle import read_bundle_meta
from ..progress import progress_bar
from .checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from .distributed import DistContext

__all__ = ["CHECKPOINT_FILE", "LOG_FILE", "SAMPLES_DIR", "GenerativeRun", "GenerativeTask", "GenerativeTrainer",
           "SampleGrids", "resume_state"]

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
LOG_FILE = "log.csv"
SAMPLES_DIR = "samples"
CHECKPOINT_FORMAT = "artlens-generative-checkpoint/1"


class GenerativeTask:
    """The model-specific part of a run; the engine owns the loop, checkpoints, logs, EMA, AMP and DDP.

    Set, before the trainer starts:

    * ``models``: the networks that train (name -> module), on the training device;
    * ``optimizers``: loss name -> optimiser. Each step, in this order, each optimiser's gradients are
      zeroed, the loss of its name back-propagated and its step taken (one entry for most models; a
      GAN lists its generator's loss, then its discriminator's, whose graph uses detached fakes);
    * ``schedulers``: name -> LR scheduler, stepped once after every step (may stay empty);
    * ``loss_names``: the values ``training_step`` returns, in ``log.csv``'s column order;
    * ``ema_names``: the networks the EMA averages (``None``: all of ``models``).

    and write ``next_batch`` (draw from a sampler whose state ``state_dict`` returns, so a resume
    draws what the uninterrupted run would have), ``training_step`` and, for sample grids, ``sample``.
    """

    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, Any] = {}
    loss_names: tuple[str, ...] = ("loss",)
    ema_names: tuple[str, ...] | None = None

    def next_batch(self) -> Any:
        raise NotImplementedError

    def training_step(self, batch: Any, nets: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
        """The losses of one step on ``batch``; ``nets`` are ``models`` as the engine runs them (DDP-wrapped)."""
        raise NotImplementedError

    def sample(self, nets: Mapping[str, nn.Module]) -> tuple[torch.Tensor, int]:
        """Images in ``[0, 1]`` (N, 3, H, W) made by ``nets`` (the EMA's when there is one), and the grid's columns."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The data sampler's state (generator states, ...): what ``next_batch`` needs to continue."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


@dataclass
class GenerativeRun:
    """What a finished :meth:`GenerativeTrainer.fit` leaves: the networks to save (the EMA's if any),
    the step reached, the last step's losses and the seconds this session trained."""

    models: dict[str, nn.Module]
    step: int
    losses: dict[str, float]
    seconds: float


Callback = Callable[["GenerativeTrainer", int, dict[str, float]], None]


def resume_state(out: str | Path, *, resume: bool, steps: int) -> dict[str, Any] | None:
    """The checkpoint to continue from with ``resume`` (None for a fresh run), checked before any work.

    A fresh run refuses a folder that already holds one; a resume refuses a ``steps`` below the
    checkpoint's (it would label those weights as trained for ``steps``).
    """
    path = Path(out) / CHECKPOINT_FILE
    if not resume:
        if path.exists():
            raise ArtlensError(f"{path} exists: pass --resume to continue that run or choose another --out")
        return None
    state = load_checkpoint(path)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ArtlensError(f"{path}: not a checkpoint of this artlens version's generative trainer "
                           f"(format {state.get('format')!r}); start a new run with another --out")
    done = int(state["step"])
    if steps < done:
        raise ArtlensError(f"{path}: the run is already at step {done}, beyond --steps {steps}; "
                           f"pass --steps {done} or more to resume it, or choose another --out")
    return state


def finished_run(out: str | Path, state: dict[str, Any] | None, steps: int, bundle: Path, *, format: str) -> bool:
    """Whether a resumed run has nothing left to do: its checkpoint is at ``steps`` and the bundle it
    wrote (of ``format``) says the same; then the bundle stays as it is, and a warning says so."""
    if state is None or int(state["step"]) != steps:
        return False
    try:
        saved = int(read_bundle_meta(bundle, format=format).get("steps"))
    except (ArtlensError, TypeError, ValueError):
        return False  # no readable bundle: write it again
    if saved != steps:
        return False
    log.warning("%s: the run is already at step %d; nothing to train, %s is unchanged (pass a larger --steps to "
                "continue it)", Path(out) / CHECKPOINT_FILE, steps, bundle)
    return True


class GenerativeTrainer:
    """Train ``task`` for ``steps`` steps, writing ``<out>/checkpoint.pt``, ``log.csv`` and what callbacks write.

    ``ema_decay`` > 0 keeps an exponential moving average of the weights; ``amp`` runs each step under
    autocast with a gradient scaler (on CUDA); ``ctx`` (from :func:`artlens.train.distributed.init_distributed`)
    wraps the networks in DDP when several processes train; ``info`` is stored in the checkpoint for
    the caller to check on resume (encoder, layer, ...). Callbacks run on rank 0 after every step's log row
    and before its checkpoint: ``callback(trainer, step, losses)``.
    """

    def __init__(self, task: GenerativeTask, *, out: str | Path, steps: int, checkpoint_every: int = 500,
                 ema_decay: float = 0.0, amp: bool = False, device: str | torch.device = "cpu",
                 ctx: DistContext | None = None, callbacks: Sequence[Callback] = (), show_progress: bool = False,
                 description: str = "train", info: dict[str, Any] | None = None) -> None:
        if steps < 1 or checkpoint_every < 1:
            raise ArtlensError(f"steps and checkpoint_every must be at least 1, got {steps}, {checkpoint_every}")
        if not 0.0 <= ema_decay < 1.0:
            raise ArtlensError(f"--ema-decay must be in [0, 1), got {ema_decay}")
        self.task, self.out, self.steps = task, Path(out), steps
        self.checkpoint_every, self.ema_decay = checkpoint_every, ema_decay
        self.device = torch.device(device)
        self.amp = amp
        self.ctx = ctx or DistContext()
        self.callbacks = list(callbacks)
        self.show_progress = show_progress and self.ctx.is_main
        self.description = description
        self.info = dict(info or {})
        self.nets = {name: self.ctx.wrap(m, self.device) for name, m in task.models.items()}
        self.ema = self._new_ema() if ema_decay > 0 else {}
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=amp and self.device.type == "cuda")
        self.log = StepLog(self.out / LOG_FILE, ["step", *task.loss_names, *self._lr_columns()])
        missing = set(task.optimizers) - set(task.loss_names)
        if missing:
            raise ArtlensError(f"optimisers {sorted(missing)} minimise no loss of loss_names {task.loss_names}")

    @property
    def checkpoint_path(self) -> Path:
        return self.out / CHECKPOINT_FILE

    def _new_ema(self) -> dict[str, nn.Module]:
        from .loop import new_ema

        names = self.task.ema_names if self.task.ema_names is not None else tuple(self.task.models)
        return {n: new_ema(self.task.models[n], self.ema_decay) for n in names}

    def _lr_columns(self) -> list[str]:
        names = list(self.task.optimizers)
        return ["lr"] if len(names) == 1 else [f"lr_{n}" for n in names]

    def sampling_nets(self) -> dict[str, nn.Module]:
        """The networks as samples and the bundle show them: the EMA's where there is one."""
        return {n: (self.ema[n].module if n in self.ema else m) for n, m in self.task.models.items()}

    def fit(self, state: dict[str, Any] | None = None) -> GenerativeRun:
        """Run from step 0, or from ``state`` (:func:`resume_state`) to the same weights as without the break."""
        start = self._restore(state) if state is not None else 0
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            self.log.start(start)
        losses = self.log.losses(start)  # what the run reports if no step is left
        t0 = time.perf_counter()
        with progress_bar(self.steps, self.description, enabled=self.show_progress,
                          postfix=lambda: _postfix(losses)) as advance:
            advance(start)
            for step in range(start, self.steps):
                losses = self._step(step)
                done = step + 1
                if self.ctx.is_main:
                    for cb in self.callbacks:
                        cb(self, done, losses)
                if done % self.checkpoint_every == 0 or done == self.steps:
                    self.save_checkpoint(done)
                advance(1)
        return GenerativeRun(self.sampling_nets(), self.steps, losses, round(time.perf_counter() - t0, 1))

    def _step(self, step: int) -> dict[str, float]:
        task = self.task
        lrs = [opt.param_groups[0]["lr"] for opt in task.optimizers.values()]
        batch = task.next_batch()
        with torch.autocast(self.device.type, enabled=self.amp):
            out = task.training_step(batch, self.nets)
        values = {name: float(out[name].detach()) for name in task.loss_names}
        if not all(math.isfinite(v) for v in values.values()):
            raise ArtlensError(f"training diverged at step {step + 1} (loss not finite): lower --lr")
        last = len(task.optimizers) - 1
        for i, (name, opt) in enumerate(task.optimizers.items()):
            opt.zero_grad(set_to_none=True)
            self.scaler.scale(out[name]).backward(retain_graph=i < last)
            self.scaler.step(opt)
        self.scaler.update()
        for sched in task.schedulers.values():
            sched.step()
        for name, ema in self.ema.items():
            ema.update_parameters(task.models[name])
        if self.ctx.is_main:
            self.log.append(step + 1, [*values.values(), *lrs])
        return values

    # -- checkpoints ---------------------------------------------------------------------------------

    def save_checkpoint(self, step: int) -> None:
        """Everything a resume needs, written atomically by rank 0 (every process' RNG and sampler state)."""
        task = self.task
        per_rank = _gather(self.ctx, {"rng": capture_rng(), "data": task.state_dict()})
        if not self.ctx.is_main:
            return
        save_checkpoint({
            "format": CHECKPOINT_FORMAT, "step": step, "info": self.info, "ema_decay": self.ema_decay,
            "models": {n: m.state_dict() for n, m in task.models.items()},
            "optimizers": {n: o.state_dict() for n, o in task.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in task.schedulers.items()},
            "ema": {n: e.state_dict() for n, e in self.ema.items()},
            "scaler": self.scaler.state_dict(),
            "rng": [r["rng"] for r in per_rank], "data": [r["data"] for r in per_rank],
        }, self.checkpoint_path)

    def _restore(self, state: dict[str, Any]) -> int:
        task = self.task
        if len(state["rng"]) != self.ctx.world_size:
            raise ArtlensError(f"{self.checkpoint_path}: written by {len(state['rng'])} process(es), resumed by "
                               f"{self.ctx.world_size}; resume with the same number of processes")
        if state["ema_decay"] != self.ema_decay or set(state["ema"]) != set(self.ema):
            raise ArtlensError(f"{self.checkpoint_path}: was trained with --ema-decay {state['ema_decay']}, not "
                               f"{self.ema_decay}; resume it with the same --ema-decay")
        for group, live in (("models", task.models), ("optimizers", task.optimizers),
                            ("schedulers", task.schedulers), ("ema", self.ema)):
            for name, obj in live.items():
                obj.load_state_dict(state[group][name])
        if state["scaler"]:  # empty when written without AMP
            self.scaler.load_state_dict(state["scaler"])
        task.load_state_dict(state["data"][self.ctx.rank])
        restore_rng(state["rng"][self.ctx.rank])
        step = int(state["step"])
        log.info("resumed from %s at step %d", self.checkpoint_path, step)
        return step


class SampleGrids:
    """A callback: ``<out>/samples/stepNNNNNN.png`` from ``task.sample`` every ``every`` steps and at the last."""

    def __init__(self, every: int) -> None:
        self.every = every

    def __call__(self, trainer: GenerativeTrainer, step: int, losses: dict[str, float]) -> None:
        if step % self.every and step != trainer.steps:
            return
        from torchvision.utils import save_image

        nets = trainer.sampling_nets()
        with _eval(nets.values()), torch.no_grad():
            images, columns = trainer.task.sample(nets)
        path = trainer.out / SAMPLES_DIR / f"step{step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(images.float().cpu(), str(path), nrow=columns, padding=2, pad_value=1.0)


class StepLog:
    """``log.csv``: one row per step; a resume drops the rows written after its checkpoint."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.columns = path, columns

    def start(self, step: int) -> None:
        header = ",".join(self.columns)
        if step == 0 or not self.path.is_file():
            self.path.write_text(header + "\n")
            return
        _, *rows = self.path.read_text().splitlines()
        kept = [r for r in rows if r.split(",", 1)[0].isdigit() and int(r.split(",", 1)[0]) <= step]
        self.path.write_text("\n".join([header, *kept]) + "\n")

    def append(self, step: int, values: Sequence[float]) -> None:
        with self.path.open("a") as fh:
            fh.write(",".join([str(step), *(f"{v:.6g}" for v in values)]) + "\n")

    def losses(self, step: int) -> dict[str, float]:
        """The losses logged at ``step`` ({} if none): a run resumed at its last step still reports them."""
        if step == 0 or not self.path.is_file():
            return {}
        header, *rows = self.path.read_text().splitlines()
        names = header.split(",")
        for row in reversed(rows):
            fields = row.split(",")
            if fields[0] == str(step) and len(fields) == len(names):
                try:
                    return {n: float(v) for n, v in zip(names[1:], fields[1:]) if not n.startswith("lr")}
                except ValueError:
                    return {}
        return {}


@contextmanager
def _eval(modules: Iterable[nn.Module]) -> Iterator[None]:
    modules = list(modules)
    was = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, w in zip(modules, was):
            m.train(w)


def _gather(ctx: DistContext, obj: Any) -> list[Any]:
    """``obj`` of every process, in rank order (one process: ``[obj]``)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def _postfix(losses: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.3g}" for k, v in losses.items())
