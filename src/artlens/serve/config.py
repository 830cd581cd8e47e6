"""The service's settings: one dataclass from ``artlens serve`` flags to :func:`create_app`, unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import PRECISIONS, ArtlensError

__all__ = ["ServeConfig"]


@dataclass
class ServeConfig:
    """How the web service loads models and protects itself from its clients."""

    models_dir: str | None = None
    """Folder searched (recursively) for model bundles (``artlens.json`` with format ``artlens-bundle/1``)
    and style decoders; the built-in style model is always available as well."""
    default_model: str | None = None
    """Model used when a request names none (default: the built-in style classifier)."""
    device: str = "auto"
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:1``."""
    precision: str = field(default="auto", metadata={"choices": PRECISIONS})
    """Number type the classifiers compute in (``auto``: float16 on a GPU, float32 on a CPU; ``bf16``: about
    1.6 x as fast on a CPU with AMX, and some answers change)."""
    max_upload_mb: float = 10.0
    """Largest accepted image file; bigger uploads get 413."""
    max_pixels: int = 40_000_000
    """Largest accepted decoded image (width x height): a 50 kB PNG can claim 100k x 100k pixels."""
    max_batch: int = 16
    """Concurrent predict requests are run through the model together, up to this many at once."""
    batch_wait_ms: float = 2.0
    """How long the batcher waits for more requests after the first one arrives."""
    queue_size: int = 4
    """Background jobs (Gatys style transfer) waiting to run; more are refused with 429."""
    job_workers: int = 1
    """Threads running background jobs (each uses the whole CPU; one is right on small machines)."""
    keep_jobs: int = 64
    """Finished jobs whose status and result stay in memory (oldest forgotten first)."""
    job_retention_hours: float = 168.0
    """Hours a finished job and its result stay in the operations database (``--db``), then are deleted."""
    preload: bool = True
    """Load the default model at start-up rather than on the first request."""
    max_gatys_steps: int = 500
    """Largest ``steps`` a Gatys job may ask for."""
    max_style_size: int = 1024
    """Largest output side of a style transfer."""
    gatys_extractor: str = "efficientnet_lite0"
    """The network that judges Gatys' losses (real ImageNet weights offline; ``vgg19`` needs its file)."""

    jobs_per_client: int = 2
    """Background jobs one client (remote address) may have queued or running at once: its share of the queue."""
    job_timeout_s: float = 1800.0
    """A background job running longer is stopped at its next progress step."""
    predict_queue: int = 64
    """Predict requests allowed to wait beyond the ``max_batch`` being decoded and batched; more get 429."""
    predict_timeout_s: float = 60.0
    """A predict request not answered within this (waiting included) gets 503 with ``Retry-After``."""
    compute_workers: int = 1
    """Threads running the sync image work (fast CAM methods, AdaIN): each takes the whole CPU for a while."""
    compute_queue: int = 4
    """Fast CAM / AdaIN requests allowed to wait for those threads; more get 429 with ``Retry-After``."""
    compute_timeout_s: float = 60.0
    """A fast CAM / AdaIN request not answered within this (waiting included) gets 503."""
    host: str | None = None
    """The interface the server is bound to: a name it answers to in the ``Host`` header."""
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    """More names the ``Host`` header may carry (``localhost`` and IP addresses always may; ``*`` = any)."""
    allow_origins: tuple[str, ...] = field(default_factory=tuple)
    """Other web origins (``https://example.org``) whose pages may POST and DELETE here (CORS)."""
    shutdown_grace: float = 5.0
    """Seconds a stop (Ctrl+C, SIGTERM) waits for requests already running; waiting ones are answered 503 at once."""

    # Operations (issue 36): what is recorded, who may change what is served.
    db: str | None = None
    """Operations database: a SQLite file path or an SQLAlchemy URL (``postgresql://user@host/db``) shared
    by several servers. Every prediction is recorded there (hashes, size, format, top-k; not the image),
    ``POST /v1/feedback`` is offered, jobs survive a restart and model aliases choose the served version.
    ``None``: nothing is recorded. ``artlens serve`` records by default, into a SQLite file that needs no
    set-up (``$ARTLENS_DB`` or ``~/.local/share/artlens/ops.sqlite``); ``--db none`` records nothing."""
    store_uploads: str | None = None
    """Folder where uploaded images are kept (by SHA-256) for retraining on feedback; ``None``: never kept."""
    admin_token: str | None = None
    """Bearer token of the admin routes (promote, rollback, A/B weights, feedback export); ``None``: those
    routes do not exist."""
    ab: tuple[str, ...] = field(default_factory=tuple)
    """A/B tests, ``NAME=ARM:WEIGHT,ARM:WEIGHT`` each (arms are aliases or versions): requests that name no
    version of NAME are split by a sticky hash of the client."""
    shadow: tuple[str, ...] = field(default_factory=tuple)
    """``NAME=ARM``: that version of NAME scores every request for NAME too; its answer is only logged."""
    feedback_per_minute: int = 30
    """Feedback one client address may send per minute (429 beyond)."""
    alias_refresh_s: float = 2.0
    """How often the aliases are re-read from the database: a promotion is served within this long."""

    def __post_init__(self) -> None:
        self.allowed_hosts = tuple(self.allowed_hosts)
        self.allow_origins = tuple(self.allow_origins)
        self.ab = tuple(self.ab)
        self.shadow = tuple(self.shadow)
        if self.precision not in PRECISIONS:
            raise ArtlensError(f"serve.precision: {self.precision!r} is not allowed; choose from: {', '.join(PRECISIONS)}")
        if self.feedback_per_minute <= 0:
            raise ArtlensError(f"serve.feedback_per_minute must be positive, got {self.feedback_per_minute!r}")
        if self.admin_token is not None and len(self.admin_token) < 16:
            raise ArtlensError("serve.admin_token: use 16 or more characters (e.g. `openssl rand -hex 24`)")
        for key in ("max_upload_mb", "max_pixels", "max_batch", "queue_size", "job_workers", "keep_jobs",
                    "max_gatys_steps", "max_style_size", "jobs_per_client", "job_timeout_s", "job_retention_hours",
                    "predict_queue", "predict_timeout_s", "compute_workers", "compute_queue", "compute_timeout_s"):
            if getattr(self, key) <= 0:
                raise ArtlensError(f"serve.{key} must be positive, got {getattr(self, key)!r}")
        if self.batch_wait_ms < 0:
            raise ArtlensError(f"serve.batch_wait_ms must be >= 0, got {self.batch_wait_ms!r}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
