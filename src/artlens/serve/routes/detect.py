"""``POST /v1/detect``: Human or AI? The verdict and the probability of AI for one uploaded image.

The built-in detector answers unless ``model`` names a served bundle trained with an origin label.
The work runs in the ``predict`` work class (bounded like ``/v1/predict``); the answer repeats what
the detector says about its own limits (``notes``), so a client can show them beside the verdict.
With a database (``artlens serve --db``) the verdict is recorded as a prediction is, under
``request_id`` and the detector's ``name@version``: its two labels ``ai`` and ``human``, the verdict
first, and the image's embedding, so ``POST /v1/feedback`` and ``artlens monitor`` work for the
detector as for a style model.
"""

import functools
import threading
import time
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, File, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from ... import read_bundle_meta
from ...detect import DEFAULT_DETECTOR, ORIGINS, Detector, default_detector_path, origin_classes
from ...models import embedding_taps
from ..registry import probs_and_embeddings
from ..schemas import ImageInfo, errors
from ..service import Service, model_form

__all__ = ["DetectResponse", "router"]


class DetectResponse(BaseModel):
    model: str = Field(description="The detector that answered.")
    verdict: Literal["ai", "human"] = Field(description="ai when p_ai is at least the detector's threshold.")
    p_ai: float = Field(ge=0, le=1, description="Probability that the image is AI-generated.")
    threshold: float = Field(ge=0, le=1, description="Chosen on validation images for balanced accuracy.")
    notes: list[str] = Field(description="What the detector works on, was trained on and is not valid for.")
    image: ImageInfo = Field(description="The picture as uploaded (upright).")
    request_id: str = Field(description="This answer's id: what POST /v1/feedback names (label ai, human or correct).")
    feedback: bool = Field(description="Whether this server records answers and takes feedback on them.")
    latency_ms: float


def ranked(verdict: str, p_ai: float) -> list[dict[str, Any]]:
    """The two labels as the client was answered, the verdict first (with a threshold other than 0.5
    the verdict can be the less probable label): what a recorded answer and its feedback compare."""
    probs = {"ai": p_ai, "human": round(1.0 - p_ai, 4)}
    return [{"label": label, "prob": probs[label]} for label in sorted(probs, key=lambda label: label != verdict)]


def router(service: Service) -> APIRouter:
    routes = APIRouter(tags=["detect"])
    registry, cfg = service.registry, service.config
    ops = service.ops if service.ops is not None and service.ops.enabled else None
    builtin: dict[str, Any] = {}
    lock = threading.Lock()

    def builtin_detector() -> tuple[Detector, list[Any]]:
        with lock:  # loaded on first use, once, with the modules whose inputs are its embedding
            if "detector" not in builtin:
                detector = Detector(None, device=service.device)
                builtin["detector"] = detector, embedding_taps(detector.predictor.model)
            return builtin["detector"]

    @functools.cache
    def builtin_id() -> str:
        """The built-in detector's ``name@version``, what its answers are recorded and counted under."""
        meta = read_bundle_meta(default_detector_path())
        return f"{meta.get('name') or DEFAULT_DETECTOR}@{meta.get('version') or 'unknown'}"

    @routes.post("/v1/detect", response_model=DetectResponse, responses=errors(403, 404, 413, 415, 422, 429, 503))
    async def detect(request: Request,
                     file: Annotated[UploadFile, File(description="The image.")],
                     model: Annotated[str, model_form()] = "") -> dict[str, Any]:
        """Human or AI: the verdict, the probability of AI, the threshold, and the detector's own limits.
        With a database, the verdict is recorded under ``request_id`` for ``POST /v1/feedback``."""
        start = time.perf_counter()
        entry = registry.resolve(model) if model else None
        if entry is not None and origin_classes(entry.classes) is None:
            raise HTTPException(422, f"model {entry.id} is not a detector: its classes are "
                                     f"{', '.join(entry.classes[:6])} (a detector has one ai and one human class)")
        request.state.model = entry.id if entry is not None else builtin_id()
        request_id = request.state.request_id
        data = await service.read(file)

        def work() -> dict[str, Any]:
            embedding: np.ndarray | None = None
            if entry is None:
                detector, taps = builtin_detector()
                img = service.decode(data, "file", detector.bundle.preprocessing.decode_size)
                views = [detector.predictor.views(img.image)]
                if ops is not None:  # the embedding is recorded for drift monitoring, as /v1/predict's
                    probs, embedding = probs_and_embeddings(detector.predictor, views, taps)[0]
                else:
                    probs = detector.predictor.probs(views)[0]
                name, model_id = DEFAULT_DETECTOR, builtin_id()
            else:
                loaded = registry.loaded(entry.id)
                detector = Detector(loaded.predictor.bundle, device=service.device)
                img = service.decode(data, "file", entry.decode_size)
                probs, embedding = loaded.predict_with_embedding(img.image, timeout=cfg.predict_timeout_s)
                name = model_id = entry.id
            verdict = detector.judge(probs)
            if ops is not None:
                ops.record(request_id=request_id, model_id=model_id, classes=ORIGINS,
                           answer={"predictions": ranked(**verdict)}, data=data, img=img, embedding=embedding)
            if service.metrics is not None:
                service.metrics.predictions.labels(model_id, verdict["verdict"]).inc()
            return {"model": name, **verdict, "threshold": detector.threshold, "notes": detector.notes,
                    "image": {"width": img.width, "height": img.height, "format": img.format}}

        out = await service.predict_work.run(work, is_disconnected=request.is_disconnected)
        return {**out, "request_id": request_id, "feedback": ops is not None,
                "latency_ms": round((time.perf_counter() - start) * 1000, 1)}

    return routes
