"""Cost classes: each kind of request work gets its own threads, a bounded waiting room and a time limit.

Starlette runs every ``def`` endpoint in one shared pool of 40 threads. Put a 50-second CAM in it and
40 of them stop ``/healthz``, ``/v1/predict`` and the static files for everyone (issue 28). So the
routes that compute are ``async`` and hand their work to a :class:`CostClass` instead:

* a request that finds the class full (``workers`` running and ``waiting`` queued) is refused at
  once with 429 and ``Retry-After`` (:class:`Busy`), never queued without bound;
* a request not answered within ``timeout_s`` (waiting included) gets 503 with ``Retry-After``;
* a request whose client has gone away is dropped while it still waits (its work never starts);
* :meth:`CostClass.close` (the server is stopping) answers every waiting request 503 at once,
  so stopping never waits for a backlog; work already running finishes in its daemon thread.

The cheap routes (health, model list, job status, static files) never enter a cost class, so no
amount of queued work can keep them from answering.

>>> import asyncio
>>> cams = CostClass("explain", workers=1, waiting=2, timeout_s=30)
>>> asyncio.run(cams.run(lambda x: x * 2, 21))
42
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

__all__ = ["Busy", "ClientGone", "CostClass"]

log = logging.getLogger("artlens.serve")

T = TypeVar("T")

#: How often a waiting request checks whether its client is still there.
POLL_S = 0.2


class Busy(Exception):
    """Work refused or abandoned because the server is busy: 429 (full) or 503 (too slow, stopping)."""

    def __init__(self, message: str, *, status: int = 429, retry_after: int = 10) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ClientGone(Exception):
    """The client disconnected while its work was waiting: the work was dropped, nobody hears the answer."""


class CostClass:
    """``workers`` daemon threads running one kind of work, at most ``waiting`` more queued behind them."""

    def __init__(self, name: str, *, workers: int, waiting: int, timeout_s: float, retry_after_s: int = 10) -> None:
        self.name = name
        self.workers = workers
        self.waiting = waiting
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self._pending = 0  # queued + running
        self._running = 0
        self._closed = True
        self.counts = {"done": 0, "refused": 0, "timed_out": 0, "abandoned": 0}
        self._threads: list[threading.Thread] = []
        self.open()

    def open(self) -> None:
        """Start the threads (again, after :meth:`close`: an app may be started and stopped several
        times, as test clients do); idempotent."""
        with self._lock:
            if not self._closed:
                return
            self._closed = False
            self._queue: queue.Queue[Any] = queue.Queue()  # a fresh one: the old holds the old threads' stops
            self._threads = [threading.Thread(target=self._work, args=(self._queue,), name=f"artlens-{self.name}-{i}",
                                              daemon=True) for i in range(self.workers)]
        for t in self._threads:
            t.start()

    # -- submitting --------------------------------------------------------------------------------

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(*args)``; raises :class:`Busy` (429) when the class is full instead of waiting."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise Busy("the server is shutting down", status=503, retry_after=self.retry_after_s)
            if self._pending >= self.workers + self.waiting:
                self.counts["refused"] += 1
                raise Busy(f"{self.name}: {self.workers} running and {self.waiting} waiting already; "
                           "try again later", status=429, retry_after=self.retry_after_s)
            self._pending += 1
            self._queue.put((future, fn, args))
        return future

    async def run(self, fn: Callable[..., T], *args: Any, is_disconnected: Callable[[], Any] | None = None) -> T:
        """``fn(*args)`` in this class's threads, awaited without holding any other thread.

        ``is_disconnected``: an async callable (``request.is_disconnected``) checked while waiting;
        when it says the client left, work not yet started is dropped and :class:`ClientGone` raised.
        """
        future = self.submit(fn, *args)
        waiter = asyncio.wrap_future(future)
        deadline = time.monotonic() + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            done, _ = await asyncio.wait({waiter}, timeout=max(0.0, min(POLL_S, left)))
            if done:
                return waiter.result()
            if is_disconnected is not None and await is_disconnected():
                self._abandon(future, waiter, "abandoned")
                raise ClientGone(f"{self.name}: the client disconnected")
            if time.monotonic() >= deadline:
                self._abandon(future, waiter, "timed_out")
                raise Busy(f"{self.name}: no answer within {self.timeout_s:g} s: the server is busy, try again later",
                           status=503, retry_after=self.retry_after_s)

    def _abandon(self, future: Future[Any], waiter: asyncio.Future[Any], why: str) -> None:
        """Nobody waits for ``future`` any more: drop it if it has not started (its thread may keep
        running work already started: threads cannot be stopped, but the slot stays taken until then)."""
        future.cancel()
        waiter.cancel()  # a result that comes later is ignored, not logged as never retrieved
        with self._lock:
            self.counts[why] += 1

    # -- running -----------------------------------------------------------------------------------

    def _work(self, work: queue.Queue[Any]) -> None:
        while True:
            item = work.get()
            if item is None:
                return
            future, fn, args = item
            try:
                if not future.set_running_or_notify_cancel():  # its client left or gave up while it waited
                    continue
                with self._lock:
                    self._running += 1
                try:
                    result = fn(*args)
                except BaseException as err:  # noqa: BLE001 - the request's handler turns it into a status
                    future.set_exception(err)
                else:
                    future.set_result(result)
                with self._lock:
                    self._running -= 1
                    self.counts["done"] += 1
            finally:
                with self._lock:
                    self._pending -= 1

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"running": self._running, "waiting": self._pending - self._running, "workers": self.workers,
                    "capacity": self.waiting, **self.counts}

    def close(self) -> None:
        """Refuse new work and answer everything still waiting with 503 now; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            work = self._queue
        dropped = 0
        while True:
            try:
                item = work.get_nowait()
            except queue.Empty:
                break
            if item is None:
                continue
            future = item[0]
            if future.set_running_or_notify_cancel():
                future.set_exception(Busy("the server is shutting down", status=503, retry_after=self.retry_after_s))
                dropped += 1
            with self._lock:
                self._pending -= 1
        for _ in self._threads:
            work.put(None)
        if dropped:
            log.info("%s: %d waiting requests dropped at shutdown", self.name, dropped)
