"""A bounded queue of background jobs run by worker threads, with progress a page can poll.

Long work (Gatys style transfer: minutes on a CPU) must not hold an HTTP request open, and must not
pile up without bound: :meth:`JobQueue.submit` refuses new work with :class:`QueueFull` (HTTP 429)
once ``max_pending`` jobs are waiting. Jobs live in server memory keyed by a random id, so a browser
that reloads the page can ask for the same job again; the ``keep`` most recent finished jobs are kept.

>>> jobs = JobQueue(max_pending=2)
>>> job = jobs.submit("echo", lambda report: (report(1.0, "done"), b"ok")[1])
>>> jobs.wait(job.id, timeout=5).state
'done'
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Job", "JobQueue", "ProgressFn", "QueueFull"]

log = logging.getLogger("artlens.serve")

#: ``report(fraction_done, message)``, called by a job as it advances.
ProgressFn = Callable[[float, str], None]


class QueueFull(Exception):
    """The job queue holds ``max_pending`` waiting jobs already."""


@dataclass
class Job:
    id: str
    kind: str
    state: str = "queued"
    """``queued`` -> ``running`` -> ``done`` | ``failed``."""
    progress: float = 0.0
    message: str = "waiting for a worker"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    result: bytes | None = field(default=None, repr=False)
    media_type: str = "image/png"
    request_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The public view (no result bytes): what ``GET /v1/jobs/{id}`` returns."""
        elapsed = (self.finished or time.time()) - self.started if self.started else 0.0
        return {"id": self.id, "kind": self.kind, "state": self.state, "progress": round(self.progress, 4),
                "message": self.message, "error": self.error, "elapsed_s": round(elapsed, 2),
                "result": f"/v1/jobs/{self.id}/result" if self.state == "done" else None}


class JobQueue:
    """``max_pending`` waiting jobs at most, run by ``workers`` daemon threads."""

    def __init__(self, *, max_pending: int = 4, workers: int = 1, keep: int = 64) -> None:
        self.max_pending = max_pending
        self.keep = keep
        self._queue: queue.Queue[tuple[Job, Callable[[ProgressFn], bytes]]] = queue.Queue(maxsize=max_pending)
        self._stop = threading.Event()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._threads = [threading.Thread(target=self._work, name=f"artlens-job-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, kind: str, fn: Callable[[ProgressFn], bytes], *, media_type: str = "image/png",
               request_id: str = "") -> Job:
        """Queue ``fn(report) -> result bytes``; raises :class:`QueueFull` instead of waiting."""
        job = Job(id=uuid.uuid4().hex, kind=kind, media_type=media_type, request_id=request_id)
        with self._lock:
            try:
                self._queue.put_nowait((job, fn))
            except queue.Full:
                raise QueueFull(f"{self.max_pending} jobs are already waiting; try again later") from None
            self._jobs[job.id] = job
        log.info("[%s] job %s (%s) queued", request_id or "-", job.id, kind)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job has finished (for tests and scripts)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            job = self._jobs[job_id]  # held here: once finished it may be forgotten by the queue
            while job.state in ("queued", "running"):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"job {job_id} still {job.state} after {timeout}s")
                self._changed.wait(left)
            return job

    def stats(self) -> dict[str, int]:
        with self._lock:
            states = [j.state for j in self._jobs.values()]
        return {"queued": states.count("queued"), "running": states.count("running"), "capacity": self.max_pending}

    def close(self) -> None:
        """Stop the workers after the jobs they are running (waiting jobs are dropped)."""
        self._stop.set()
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def _update(self, job: Job, **changes: Any) -> None:
        """Change a job and wake waiters; a job that finishes makes the oldest finished ones beyond
        ``keep`` be forgotten in the same step, so a waiter never sees more than ``keep`` of them."""
        with self._changed:
            for key, value in changes.items():
                setattr(job, key, value)
            if job.state in ("done", "failed"):
                finished = [j.id for j in self._jobs.values() if j.state in ("done", "failed")]
                for job_id in finished[: max(0, len(finished) - self.keep)]:
                    del self._jobs[job_id]
            self._changed.notify_all()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job, fn = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._update(job, state="running", started=time.time(), message="started")

            def report(progress: float, message: str = "", job: Job = job) -> None:
                self._update(job, progress=min(max(float(progress), 0.0), 1.0), message=message or job.message)

            try:
                result = fn(report)
            except Exception as err:  # noqa: BLE001 - a failed job is reported to its client, not fatal
                log.exception("[%s] job %s failed", job.request_id or "-", job.id)
                self._update(job, state="failed", finished=time.time(), error=str(err) or type(err).__name__,
                             message="failed")
            else:
                self._update(job, state="done", finished=time.time(), progress=1.0, result=result, message="done")
                log.info("[%s] job %s done in %.1fs", job.request_id or "-", job.id, job.finished - job.started)
