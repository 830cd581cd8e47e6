"""The service's settings: one dataclass from ``artlens serve`` flags to :func:`create_app`, unchanged."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ArtlensError

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
    """Finished jobs whose status and result stay available (oldest forgotten first)."""
    preload: bool = True
    """Load the default model at start-up rather than on the first request."""
    max_gatys_steps: int = 500
    """Largest ``steps`` a Gatys job may ask for."""
    max_style_size: int = 1024
    """Largest output side of a style transfer."""
    gatys_extractor: str = "efficientnet_lite0"
    """The network that judges Gatys' losses (real ImageNet weights offline; ``vgg19`` needs its file)."""

    def __post_init__(self) -> None:
        for key in ("max_upload_mb", "max_pixels", "max_batch", "queue_size", "job_workers", "keep_jobs",
                    "max_gatys_steps", "max_style_size"):
            if getattr(self, key) <= 0:
                raise ArtlensError(f"serve.{key} must be positive, got {getattr(self, key)!r}")
        if self.batch_wait_ms < 0:
            raise ArtlensError(f"serve.batch_wait_ms must be >= 0, got {self.batch_wait_ms!r}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
