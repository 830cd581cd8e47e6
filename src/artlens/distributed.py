"""Work shared by processes with ``torch.distributed``, launched by torchrun: training, evaluation, inference.

Every whole-collection job (``fit``, ``evaluate``, sharded ``predict``/``embed``, the frozen-feature
cache) joins the torchrun process group through :func:`init_distributed` and splits its images with
:func:`shard_indices`: rank ``r`` of ``w`` takes images ``r, r + w, r + 2w, ...``, so every image is
scored exactly once. torch's ``DistributedSampler`` instead pads the last round with repeated images
so that every rank gets as many, which counts those images twice in an evaluation (the fault of
torchvision's reference scripts); :func:`gather_objects` brings the ranks' results back to be put in input
order, so a report made under torchrun is the single-process report.

For training, ``fit`` reads the environment torchrun sets (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``); with more than
one process it joins the process group (NCCL on GPUs, gloo on CPUs) and:

* trains backbone-updating phases under ``DistributedDataParallel``: each process sees its own shard
  of every epoch (``DistributedSampler``) and gradients are averaged, so N processes together take
  the same number of optimizer steps as one process with an N times larger batch;
* computes a ``frozen`` feature cache in shards, every process embedding its share and writing it
  next to the cache, which rank 0 then joins (the run folder must be on a file system every process
  sees); the head then trains on the whole cache in every process, and rank 0's weights are copied
  to the others at the end of the phase;
* validates and tests with every process, each on its own images (no padding), the sums reduced over
  all of them, so every process reaches the same early-stopping decision;
* lets only rank 0 write (checkpoints, metrics, curves, the bundle and the report).

    torchrun --nproc-per-node 2 -m artlens train --data paintings/ --strategy full --out runs/ddp

A single process (plain ``artlens train``) never touches ``torch.distributed``.

Across machines, torchrun's rendezvous joins them (``--nnodes 2 --rdzv-backend c10d --rdzv-endpoint
HOST:29400 --rdzv-id JOB``); see the README.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .errors import ArtlensError

__all__ = ["DistContext", "broadcast_object", "check_in_sync", "gather_objects", "init_distributed",
           "is_main_process", "reduce_sums", "shard_indices", "shared_counter"]


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the run; ``world_size == 1`` means an ordinary single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def sync_from_main(self, model: nn.Module) -> None:
        """Copy rank 0's weights and buffers to every process (after a phase each trained on its own)."""
        if self.enabled:
            with torch.no_grad():
                for t in model.state_dict().values():
                    dist.broadcast(t, src=0)

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``model`` under DDP when distributed (its trainable parameters only), else itself."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)


def is_main_process() -> bool:
    """True outside torchrun and in its rank 0: the one process that reports to the user."""
    return int(os.environ.get("RANK", "0")) == 0


def init_distributed(device_name: str = "auto") -> tuple[DistContext, str]:
    """Join the torchrun process group when there is one; returns the context and the device to use."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(), device_name
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        if local >= torch.cuda.device_count():
            raise ArtlensError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPU(s) on this node; "
                               "pass --nproc-per-node at most the number of GPUs")
        torch.cuda.set_device(local)
        device_name = f"cuda:{local}"
    elif device_name == "auto":
        device_name = "cpu"
    if not dist.is_initialized():  # a second fit() in the same process reuses the group
        # Generous timeout: the other processes wait at a barrier while rank 0 joins a frozen cache or
        # merges the shards of a whole collection.
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", timeout=timedelta(hours=2))
        atexit.register(_shutdown)
    return DistContext(rank=rank, world_size=world, local_rank=local), device_name


def _shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _comm_device() -> torch.device:
    """NCCL only moves CUDA tensors; gloo moves CPU ones."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def broadcast_object(ctx: DistContext, obj: Any) -> Any:
    """Rank 0's ``obj`` on every process (decisions such as early stopping must agree)."""
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def reduce_sums(ctx: DistContext, values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over all processes (per-shard counts into run totals)."""
    if not ctx.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return t.cpu().tolist()


def check_in_sync(ctx: DistContext, model: nn.Module) -> None:
    """Fail loudly if the processes' weights drifted apart (they must stay identical under DDP)."""
    if not ctx.enabled:
        return
    with torch.no_grad():
        total = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1)
    total = total.to(_comm_device())
    gathered = [torch.zeros_like(total) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, total)
    values = [g.item() for g in gathered]
    if max(values) - min(values) > 1e-6 * max(1.0, abs(values[0])):
        raise ArtlensError(f"distributed training: weights differ between processes ({values})")


def shard_indices(n: int, ctx: DistContext) -> range:
    """The positions of ``n`` items this process takes: ``rank, rank + world, ...``, no padding.

    >>> list(shard_indices(5, DistContext(rank=1, world_size=2)))
    [1, 3]
    """
    return range(ctx.rank, n, ctx.world_size)


def gather_objects(ctx: DistContext, obj: Any) -> list[Any]:
    """Every process' ``obj``, in rank order, on every process (``[obj]`` alone)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


class shared_counter:
    """A count every process adds to without waiting for the others (torch.distributed's key-value store).

    Processes take different numbers of shards, so a collective per shard would stall them; the
    store that torchrun's rendezvous set up anyway takes an atomic ``add`` from any process at any time.
    Rank 0 reads the total to show progress over all processes. One process: a plain integer.
    """

    def __init__(self, ctx: DistContext, key: str) -> None:
        self.key, self.total, self._store = key, 0, None
        if ctx.enabled:
            from torch.distributed import distributed_c10d

            getter = getattr(distributed_c10d, "_get_default_store", None)
            self._store = getter() if getter else None  # ``key`` must be new: ``add`` starts it at 0

    def add(self, n: int) -> int:
        """Add ``n``; returns the total over all processes so far."""
        if self._store is None:
            self.total += n
        else:
            self.total = int(self._store.add(self.key, n))
        return self.total
