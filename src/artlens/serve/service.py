"""What every route of the service shares: its settings and the objects :func:`~artlens.serve.create_app`
builds once per app (model registry, work classes, job queue, explainers, stylisers), with the few steps
each feature's routes take alike (read an upload within the limit, decode it, answer 202 with a job).

The routes (:mod:`artlens.serve.routes`) are built from one :class:`Service`, so that their schemas
show this app's limits and their bodies reach this app's objects, never a module-level global.
"""

# No ``from __future__ import annotations``: ``model_form`` is a route annotation FastAPI must see as an object.

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Form, Request, UploadFile
from fastapi.responses import JSONResponse

from .config import ServeConfig
from .features import Explainers, Stylizers
from .jobs import Job, JobQueue
from .metrics import Metrics
from .operations import Operations
from .registry import MODEL_NAME, ModelRegistry
from .uploads import DecodedImage, decode_upload
from .work import CostClass

__all__ = ["MAX_STYLES", "Service", "cam_headers", "client_of", "model_form"]

#: Style images one ``POST /v1/stylize`` may send (the request body limit counts them).
MAX_STYLES = 4
#: ``model`` as the schema shows it: a name from GET /v1/models, or empty for the default.
MODEL_FIELD_PATTERN = "^(" + MODEL_NAME.pattern.strip("^$") + ")?$"


@dataclass
class Service:
    """The settings and shared objects of one app; ``app.state`` holds the same objects."""

    config: ServeConfig
    registry: ModelRegistry
    jobs: JobQueue
    work: dict[str, CostClass]
    """``predict`` (decoding and the micro-batcher) and ``compute`` (fast CAMs, AdaIN): see :mod:`.work`."""
    explainers: Explainers
    stylizers: Stylizers
    ops: Operations | None = None
    """The operations database, A/B splits and shadow models (issue 36); ``None`` when nothing is recorded."""
    metrics: Metrics | None = None
    """The app's Prometheus counters (``GET /metrics``)."""

    @property
    def device(self) -> str:
        return str(self.registry.device)

    @property
    def predict_work(self) -> CostClass:
        return self.work["predict"]

    @property
    def compute_work(self) -> CostClass:
        return self.work["compute"]

    async def read(self, upload: UploadFile) -> bytes:
        """An upload's bytes, never more than one byte past the limit (:meth:`decode` then says 413)."""
        return await upload.read(self.config.max_upload_bytes + 1)

    def decode(self, data: bytes, field: str, draft_size: int | None = None) -> DecodedImage:
        return decode_upload(data, field=field, max_bytes=self.config.max_upload_bytes,
                             max_pixels=self.config.max_pixels, draft_size=draft_size)

    def accepted(self, job: Job) -> JSONResponse:
        """202 with the job to poll, and where."""
        return JSONResponse({"job": job.to_dict()}, status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


def model_form() -> Any:
    """The ``model`` form field; one FieldInfo per route: FastAPI keeps per-parameter state in it."""
    return Form(description="Model id or name (GET /v1/models); empty = the default.",
                json_schema_extra={"pattern": MODEL_FIELD_PATTERN})


def client_of(request: Request) -> str:
    """Who is asking, for the fair share of the job queue: the remote address."""
    return request.client.host if request.client else "unknown"


def cam_headers(info: dict[str, Any]) -> dict[str, str]:
    """A CAM's label, probability and caption as the headers of its PNG (URL-quoted where they may hold any text)."""
    names = {"model": "X-Model", "label": "X-Label", "prob": "X-Prob", "predicted": "X-Predicted", "method": "X-Method",
             "caption": "X-Caption"}
    return {header: quote(str(info[key])) if key in ("label", "predicted", "caption") else str(info[key])
            for key, header in names.items() if key in info}
