"""``GET /v1/models`` (what is installed, and the limits) and ``POST /v1/predict`` (the top-k labels).

Predict decodes the upload in the ``predict`` work class and hands it to the model's micro-batcher; the
answer is :meth:`artlens.Predictor.rank`'s, as ``artlens predict`` words it.
"""

import time
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile

from ..schemas import ModelsResponse, PredictResponse, errors
from ..service import MAX_STYLES, Service, model_form

__all__ = ["router"]


def router(service: Service) -> APIRouter:
    routes = APIRouter(tags=["models"])
    cfg, registry = service.config, service.registry

    @routes.get("/v1/models", response_model=ModelsResponse, responses=errors())
    def list_models() -> dict[str, Any]:
        """Every model (versions side by side) with a card in plain words, the default per task, which
        features are installed, and the limits."""
        return {"models": [e.to_dict() for e in registry.entries()], "defaults": registry.defaults,
                "features": {"explain": service.explainers.status(), "stylize": service.stylizers.status()},
                "limits": {"max_upload_mb": cfg.max_upload_mb, "max_pixels": cfg.max_pixels,
                           "max_styles": MAX_STYLES, "max_gatys_steps": cfg.max_gatys_steps,
                           "max_style_size": cfg.max_style_size, "jobs_per_client": cfg.jobs_per_client}}

    @routes.post("/v1/predict", response_model=PredictResponse, responses=errors(403, 404, 413, 415, 422, 429, 503))
    async def predict(request: Request,
                      file: Annotated[UploadFile, File(description="The image (decoded, never trusted by name).")],
                      model: Annotated[str, model_form()] = "",
                      top_k: Annotated[int, Form(ge=1, le=100)] = 3) -> dict[str, Any]:
        """Top-k labels with probabilities, and whether the model is unsure (``uncertain``)."""
        start = time.perf_counter()
        entry = registry.resolve(model or None)  # unknown model fails before the upload is read
        data = await service.read(file)

        def work() -> dict[str, Any]:
            loaded = registry.loaded(entry.id)
            img = service.decode(data, "file", entry.decode_size)
            probs = loaded.predict(img.image, timeout=cfg.predict_timeout_s)
            return {"model": entry.id, **loaded.answer(probs, top_k),
                    "image": {"width": img.width, "height": img.height, "format": img.format}}

        out = await service.predict_work.run(work, is_disconnected=request.is_disconnected)
        return {**out, "latency_ms": round((time.perf_counter() - start) * 1000, 1)}

    return routes
