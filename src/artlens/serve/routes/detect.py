"""``POST /v1/detect``: Human or AI? The verdict and the probability of AI for one uploaded image.

The built-in detector answers unless ``model`` names a served bundle trained with an origin label.
The work runs in the ``predict`` work class (bounded like ``/v1/predict``); the answer repeats what
the detector says about its own limits (``notes``), so a client can show them beside the verdict.
"""

import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from ...detect import DEFAULT_DETECTOR, Detector, origin_classes
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
    latency_ms: float


def router(service: Service) -> APIRouter:
    routes = APIRouter(tags=["detect"])
    registry, cfg = service.registry, service.config
    builtin: dict[str, Detector] = {}
    lock = threading.Lock()

    def builtin_detector() -> Detector:
        with lock:  # loaded on first use, once
            if "detector" not in builtin:
                builtin["detector"] = Detector(None, device=service.device)
            return builtin["detector"]

    @routes.post("/v1/detect", response_model=DetectResponse, responses=errors(403, 404, 413, 415, 422, 429, 503))
    async def detect(request: Request,
                     file: Annotated[UploadFile, File(description="The image.")],
                     model: Annotated[str, model_form()] = "") -> dict[str, Any]:
        """Human or AI: the verdict, the probability of AI, the threshold, and the detector's own limits."""
        start = time.perf_counter()
        entry = registry.resolve(model) if model else None
        if entry is not None and origin_classes(entry.classes) is None:
            raise HTTPException(422, f"model {entry.id} is not a detector: its classes are "
                                     f"{', '.join(entry.classes[:6])} (a detector has one ai and one human class)")
        data = await service.read(file)

        def work() -> dict[str, Any]:
            if entry is None:
                detector = builtin_detector()
                img = service.decode(data, "file", detector.bundle.preprocessing.decode_size)
                probs = detector.predictor.probs([detector.predictor.views(img.image)])[0]
                name = DEFAULT_DETECTOR
            else:
                loaded = registry.loaded(entry.id)
                detector = Detector(loaded.predictor.bundle, device=service.device)
                img = service.decode(data, "file", entry.decode_size)
                probs = loaded.predict(img.image, timeout=cfg.predict_timeout_s)
                name = entry.id
            return {"model": name, **detector.judge(probs), "threshold": detector.threshold, "notes": detector.notes,
                    "image": {"width": img.width, "height": img.height, "format": img.format}}

        out = await service.predict_work.run(work, is_disconnected=request.is_disconnected)
        return {**out, "latency_ms": round((time.perf_counter() - start) * 1000, 1)}

    return routes
