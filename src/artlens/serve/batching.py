"""Micro-batching: concurrent requests share one forward pass instead of queueing for the model.

One thread owns the model. Each request hands it one input and waits on a future; the thread takes
the first waiting input, gathers whatever else arrives within ``max_wait_ms`` (up to ``max_batch``),
runs them as one batch and hands each caller its row. Under load the batches fill up by themselves
(requests accumulate while the previous batch runs); alone, a request waits at most ``max_wait_ms``.
No request thread ever holds a lock on the model. ``benchmarks/serve_load.py`` measures both
settings: on a busy 2-core CPU batching lowered the p99 latency but not the throughput
(``docs/serve.md``); ``max_batch=1`` turns it off.

>>> batcher = MicroBatcher(lambda xs: [x * 2 for x in xs], max_batch=8)
>>> batcher.submit(21).result()
42
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

__all__ = ["MicroBatcher"]

log = logging.getLogger("artlens.serve")

In = TypeVar("In")
Out = TypeVar("Out")
_STOP = object()


class MicroBatcher(Generic[In, Out]):
    """Runs ``fn(list_of_inputs) -> list_of_outputs`` on batches gathered from concurrent callers."""

    def __init__(self, fn: Callable[[Sequence[In]], Sequence[Out]], *, max_batch: int = 16,
                 max_wait_ms: float = 2.0, name: str = "batcher") -> None:
        self.fn = fn
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait_ms) / 1000
        self.batches = 0
        self.items = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=f"artlens-{name}", daemon=True)
        self._thread.start()

    def submit(self, item: In) -> Future[Out]:
        future: Future[Out] = Future()
        self._queue.put((item, future))
        return future

    @property
    def mean_batch(self) -> float:
        return self.items / self.batches if self.batches else 0.0

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=10)

    def _gather(self, first: Any) -> tuple[list[Any], bool]:
        batch, deadline = [first], time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            left = deadline - time.monotonic()
            try:
                nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                return batch, True
            batch.append(nxt)
        return batch, False

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stop = self._gather(first)
            inputs, futures = [b[0] for b in batch], [b[1] for b in batch]
            try:
                outputs = self.fn(inputs)
            except Exception as err:  # noqa: BLE001 - every waiting caller gets the error
                log.exception("batch of %d failed", len(batch))
                for f in futures:
                    f.set_exception(err)
                continue
            self.batches += 1
            self.items += len(batch)
            for f, out in zip(futures, outputs):
                f.set_result(out)
