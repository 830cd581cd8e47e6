"""A fair, bounded queue of background jobs run by worker threads, with progress a page can poll.

Long work (Gatys style transfer, and the CAM methods that take seconds per image) must not hold an
HTTP request open, must not pile up without bound, and must not let one client keep everyone else
waiting for an hour (issue 28). So:

* :meth:`JobQueue.submit` refuses new work with :class:`QueueFull` (HTTP 429) once ``max_pending``
  jobs wait, or once the submitting client (its address) has ``per_client`` jobs queued or running;
* a free worker takes the waiting job of the client it served least recently (round robin between
  clients, oldest first within one), and each queued job knows its ``position`` in that order;
* every job carries an ``estimate_s`` made before it starts, so a client can see what it asked for;
* :meth:`JobQueue.cancel` removes a queued job at once and stops a running one at its next progress
  report (the job's own ``report`` raises :class:`JobCancelled`); ``timeout_s`` stops it the same way;
* :meth:`JobQueue.close` drops every waiting job and asks the running ones to stop.

Jobs live in server memory keyed by a random id, so a browser that reloads the page can ask for the
same job again; the ``keep`` most recent finished jobs are kept. With a ``journal`` (the operations
database of ``artlens serve --db``, issue 36) every job is also written there when it is queued,
starts and ends, result included: after a restart :meth:`JobQueue.get` finds a finished job and its
result in the database, and a job the stopped server left queued or running is reported failed
(:meth:`artlens.ops.Store.recover_jobs`) instead of being polled for ever. A finished job stays in
the journal for ``retention_s`` (then its row and result are deleted, :meth:`JobQueue.purge`), so the
database does not grow without bound either.

>>> jobs = JobQueue(max_pending=2)
>>> job = jobs.submit("echo", lambda report: (report(1.0, "done"), b"ok")[1])
>>> jobs.wait(job.id, timeout=5).state
'done'
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FINISHED", "Job", "JobCancelled", "JobQueue", "ProgressFn", "QueueFull"]

log = logging.getLogger("artlens.serve")

#: ``report(fraction_done, message)``, called by a job as it advances; raises :class:`JobCancelled`
#: once the job has been cancelled or has run out of time.
ProgressFn = Callable[[float, str], None]

FINISHED = ("done", "failed", "cancelled")


class QueueFull(Exception):
    """No room for another job: the queue, or the client's share of it, is full."""


class JobCancelled(Exception):
    """Raised inside a job by its progress callback: someone cancelled it, or it ran out of time."""


@dataclass
class Job:
    id: str
    kind: str
    state: str = "queued"
    """``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled`` (a queued job may go straight to ``cancelled``)."""
    progress: float = 0.0
    message: str = "waiting for a worker"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    result: bytes | None = field(default=None, repr=False)
    media_type: str = "image/png"
    request_id: str = ""
    client: str = field(default="", repr=False)
    """Who submitted it (the remote address): fairness is per client. Never shown to others."""
    estimate_s: float = 0.0
    """The run time guessed before it starts (seconds, from the work's size)."""
    position: int | None = None
    """1 = next to run; ``None`` once it runs or has finished."""
    info: dict[str, Any] = field(default_factory=dict)
    """What the result is (e.g. the CAM's label and probability), shown in the status and as headers of the result."""
    cancel_requested: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The public view (no result bytes, no client address): what ``GET /v1/jobs/{id}`` returns."""
        elapsed = (self.finished or time.time()) - self.started if self.started else 0.0
        return {"id": self.id, "kind": self.kind, "state": self.state, "progress": round(self.progress, 4),
                "message": self.message, "error": self.error, "elapsed_s": round(elapsed, 2),
                "position": self.position, "estimate_s": round(self.estimate_s, 1), "info": self.info or None,
                "result": f"/v1/jobs/{self.id}/result" if self.state == "done" else None}


class JobQueue:
    """``max_pending`` waiting jobs at most (``per_client`` queued or running per client), run by
    ``workers`` daemon threads; a job running longer than ``timeout_s`` is stopped at its next report.
    The ``keep`` most recent finished jobs stay in memory; in the journal, every finished job stays for
    ``retention_s`` seconds (``None``: for ever)."""

    def __init__(self, *, max_pending: int = 4, workers: int = 1, keep: int = 64, per_client: int | None = None,
                 timeout_s: float | None = None, retention_s: float | None = None) -> None:
        self.max_pending = max_pending
        self.per_client = per_client or max_pending + workers  # by default one client alone may fill it
        self.keep = keep
        self.timeout_s = timeout_s
        self.retention_s = retention_s
        self._purged = -float("inf")  # time.monotonic() of the last purge of the journal
        self._waiting: list[tuple[Job, Callable[[ProgressFn], bytes]]] = []
        self._last_served: dict[str, float] = {}  # client -> when a job of theirs last started
        self._stop = threading.Event()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.workers = workers
        self._threads: list[threading.Thread] = []
        self._generation = 0
        self.journal: Any = None
        """Where jobs are also kept (``save_job``, ``load_job``, ``delete_job``: :class:`artlens.ops.Store`)."""
        self._stop.set()
        self.open()

    def open(self) -> None:
        """Start the workers (again, after :meth:`close`); idempotent."""
        with self._changed:
            if not self._stop.is_set():
                return
            self._stop.clear()
            self._generation += 1  # workers of an earlier opening end instead of running on
            self._threads = [threading.Thread(target=self._work, args=(self._generation,), name=f"artlens-job-{i}",
                                              daemon=True) for i in range(self.workers)]
        for t in self._threads:
            t.start()

    # -- clients -----------------------------------------------------------------------------------

    def submit(self, kind: str, fn: Callable[[ProgressFn], Any], *, media_type: str = "image/png",
               request_id: str = "", client: str = "", estimate_s: float = 0.0,
               info: dict[str, Any] | None = None) -> Job:
        """Queue ``fn(report) -> result bytes`` (or ``(bytes, info)``: ``info`` joins the job's); raises
        :class:`QueueFull` instead of waiting."""
        job = Job(id=uuid.uuid4().hex, kind=kind, media_type=media_type, request_id=request_id, client=client,
                  estimate_s=estimate_s, info=dict(info or {}))
        with self._changed:
            if self._stop.is_set():
                raise QueueFull("the server is shutting down")
            mine = sum(1 for j in self._jobs.values() if j.client == client and j.state in ("queued", "running"))
            if mine >= self.per_client:
                raise QueueFull(f"you have {mine} jobs queued or running already, the share of one client; "
                                "wait for one to finish or cancel one (DELETE /v1/jobs/{id})")
            if len(self._waiting) >= self.max_pending:
                raise QueueFull(f"{self.max_pending} jobs are already waiting; try again later")
            self._waiting.append((job, fn))
            self._jobs[job.id] = job
            self._reorder()
            self._journal(job)
            self._changed.notify_all()
        log.info("[%s] job %s (%s, about %.0f s) queued", request_id or "-", job.id, kind, estimate_s)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job, from memory or (after a restart, or once forgotten here) from the journal."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None and self.journal is not None:
            row = self.journal.load_job(job_id)
            if row is not None:
                job = Job(**{k: v for k, v in row.items() if k in Job.__dataclass_fields__ and v is not None})
        return job

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a job: a queued one is removed now, a running one stops at its next progress report,
        a finished one is forgotten (its result freed). ``None`` when there is no such job."""
        with self._changed:
            job = self._jobs.get(job_id)
            if job is None:
                job = self.get(job_id) if self.journal is not None else None
                if job is None or job.state not in FINISHED:  # another server's live job is not ours to stop
                    return None
                self.journal.delete_job(job_id)
                job.result = None
                return job
            if job.state == "queued":
                self._waiting = [(j, f) for j, f in self._waiting if j is not job]
                self._finish(job, state="cancelled", message="cancelled before it started")
                self._reorder()
            elif job.state == "running":
                job.cancel_requested = True
                job.message = "cancelling at the next step"
            else:
                del self._jobs[job_id]
                job.result = None
                if self.journal is not None:
                    self.journal.delete_job(job_id)
            self._changed.notify_all()
            return job

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

    def purge(self) -> int:
        """Delete from the journal the jobs that finished more than ``retention_s`` ago; returns how many.
        Called when the server starts and, at most once a minute, as jobs finish; a database failure is
        logged and retried at the next call."""
        if self.journal is None or self.retention_s is None:
            return 0
        self._purged = time.monotonic()
        try:
            n = self.journal.purge_jobs(time.time() - self.retention_s)
        except Exception:  # noqa: BLE001 - keeping old results a little longer harms no one
            log.exception("deleting finished jobs older than %.0f s from the database failed", self.retention_s)
            return 0
        if n:
            log.info("deleted %d finished jobs older than %.0f s from the database", n, self.retention_s)
        return n

    def stats(self) -> dict[str, int]:
        with self._lock:
            states = [j.state for j in self._jobs.values()]
        return {"queued": states.count("queued"), "running": states.count("running"), "capacity": self.max_pending,
                "per_client": self.per_client}

    def close(self) -> None:
        """Drop the waiting jobs, ask the running ones to stop, and let the workers end."""
        with self._changed:
            self._stop.set()
            for job, _ in self._waiting:
                self._finish(job, state="cancelled", message="the server stopped before it started")
            self._waiting.clear()
            for job in self._jobs.values():
                if job.state == "running":
                    job.cancel_requested = True
            self._changed.notify_all()

    # -- inside (callers hold self._lock) ---------------------------------------------------------

    def _reorder(self) -> None:
        """Waiting jobs in the order they will run: round robin between clients (every client's first
        waiting job before anyone's second), the least recently served client first in each round."""
        rank: dict[str, int] = {}
        keys: dict[str, tuple[int, float, float]] = {}
        for job, _ in sorted(self._waiting, key=lambda item: item[0].created):
            rank[job.client] = rank.get(job.client, -1) + 1
            keys[job.id] = (rank[job.client], self._last_served.get(job.client, 0.0), job.created)
        self._waiting.sort(key=lambda item: keys[item[0].id])
        for i, (job, _) in enumerate(self._waiting):
            job.position = i + 1

    def _finish(self, job: Job, **changes: Any) -> None:
        """A job ends; the oldest finished ones beyond ``keep`` are forgotten in the same step, so a
        waiter never sees more than ``keep`` of them."""
        for key, value in changes.items():
            setattr(job, key, value)
        job.finished, job.position = time.time(), None
        self._journal(job)
        finished = [j.id for j in self._jobs.values() if j.state in FINISHED]
        for job_id in finished[: max(0, len(finished) - self.keep)]:
            del self._jobs[job_id]
        if self.retention_s is not None and time.monotonic() - self._purged >= min(60.0, self.retention_s):
            self.purge()

    def _journal(self, job: Job) -> None:
        """Write the job to the journal; a database failure is logged, never the job's."""
        if self.journal is None:
            return
        try:
            self.journal.save_job({k: getattr(job, k) for k in Job.__dataclass_fields__
                                   if k not in ("position", "cancel_requested")})
        except Exception:  # noqa: BLE001
            log.exception("[%s] job %s: writing it to the database failed", job.request_id or "-", job.id)

    def _update(self, job: Job, **changes: Any) -> None:
        with self._changed:
            if changes.get("state") in FINISHED:
                self._finish(job, **changes)
            else:
                for key, value in changes.items():
                    setattr(job, key, value)
            self._changed.notify_all()

    def _next(self, generation: int) -> tuple[Job, Callable[[ProgressFn], bytes]] | None:
        with self._changed:
            while not self._waiting and not self._stop.is_set() and generation == self._generation:
                self._changed.wait(0.5)
            if self._stop.is_set() or generation != self._generation:
                return None
            job, fn = self._waiting.pop(0)
            now = time.time()
            self._last_served[job.client] = now
            job.state, job.started, job.position, job.message = "running", now, None, "started"
            self._journal(job)
            self._reorder()
            self._changed.notify_all()
            return job, fn

    def _work(self, generation: int) -> None:
        while True:
            picked = self._next(generation)
            if picked is None:
                return
            job, fn = picked

            def report(progress: float, message: str = "", job: Job = job) -> None:
                if job.cancel_requested:
                    raise JobCancelled("cancelled")
                if self.timeout_s is not None and job.started and time.time() - job.started > self.timeout_s:
                    raise JobCancelled(f"stopped after the {self.timeout_s:g} s time limit for a job")
                self._update(job, progress=min(max(float(progress), 0.0), 1.0), message=message or job.message)

            try:
                result = fn(report)
            except JobCancelled as err:
                if str(err) == "cancelled":
                    self._update(job, state="cancelled", message="cancelled while running")
                else:
                    self._update(job, state="failed", error=str(err), message="failed")
                log.info("[%s] job %s %s", job.request_id or "-", job.id, job.state)
            except Exception as err:  # noqa: BLE001 - a failed job is reported to its client, not fatal
                log.exception("[%s] job %s failed", job.request_id or "-", job.id)
                self._update(job, state="failed", error=str(err) or type(err).__name__, message="failed")
            else:
                if job.cancel_requested:  # finished before it looked: the client asked for nothing
                    self._update(job, state="cancelled", message="cancelled while running")
                else:
                    if isinstance(result, tuple):  # (bytes, what the result shows)
                        result, info = result
                        self._update(job, info={**job.info, **info})
                    self._update(job, state="done", progress=1.0, result=result, message="done")
                    log.info("[%s] job %s done in %.1fs", job.request_id or "-", job.id, job.finished - job.started)
