"""``GET /v1/models`` (what is installed, and the limits) and ``POST /v1/predict`` (the top-k labels).

Predict decodes the upload in the ``predict`` work class and hands it to the model's micro-batcher; the
answer is :meth:`artlens.Predictor.rank`'s, as ``artlens predict`` words it.
"""

import time
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from ..schemas import ModelsResponse, PredictResponse, errors
from ..operations import CLIENT_COOKIE, client_id
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
                           "max_style_size": cfg.max_style_size, "jobs_per_client": cfg.jobs_per_client},
                "operations": {"feedback": bool(service.ops and service.ops.enabled),
                               "stores_images": bool(service.ops and service.ops.uploads is not None),
                               "ab": [s.to_text() for s in service.ops.ab.values()] if service.ops else [],
                               "feedback_per_minute": cfg.feedback_per_minute}}

    @routes.post("/v1/predict", response_model=PredictResponse, responses=errors(403, 404, 413, 415, 422, 429, 503))
    async def predict(request: Request, response: Response,
                      file: Annotated[UploadFile, File(description="The image (decoded, never trusted by name).")],
                      model: Annotated[str, model_form()] = "",
                      top_k: Annotated[int, Form(ge=1, le=100)] = 3) -> dict[str, Any]:
        """Top-k labels with probabilities, and whether the model is unsure (``uncertain``). With a
        database, the answer is recorded under ``request_id`` for ``POST /v1/feedback``; under an A/B
        test a request naming no version gets its client's arm (sticky: cookie or ``X-Client-ID``)."""
        start = time.perf_counter()
        ops = service.ops
        client, new_client = client_id(request.headers, request.cookies) if ops and ops.ab else ("", False)
        # unknown model fails before the upload is read
        entry, arm = ops.choose(model, client) if ops else (registry.resolve(model or None), None)
        request.state.model = entry.id
        request_id = request.state.request_id
        data = await service.read(file)

        def work() -> dict[str, Any]:
            loaded = registry.loaded(entry.id)
            img = service.decode(data, "file", entry.decode_size)
            if ops is not None and ops.enabled:  # the embedding is recorded for drift monitoring
                probs, embedding = loaded.predict_with_embedding(img.image, timeout=cfg.predict_timeout_s)
            else:
                probs = loaded.predict(img.image, timeout=cfg.predict_timeout_s)
            answer = loaded.answer(probs, top_k)
            if ops is not None and ops.enabled:
                shadows = ops.shadow_score(request_id=request_id, entry=entry, img=img, top_k=top_k)
                ops.record(request_id=request_id, model_id=entry.id, classes=entry.classes, answer=answer, data=data,
                           img=img, embedding=embedding, arm=arm, client=client or None)
                if service.metrics is not None:
                    for shadow in shadows:
                        service.metrics.shadow.labels(shadow).inc()
            return {"model": entry.id, **answer,
                    "image": {"width": img.width, "height": img.height, "format": img.format}}

        out = await service.predict_work.run(work, is_disconnected=request.is_disconnected)
        if new_client:
            response.set_cookie(CLIENT_COOKIE, client, max_age=365 * 24 * 3600, httponly=True, samesite="lax")
        if service.metrics is not None and out["predictions"]:
            service.metrics.predictions.labels(entry.id, out["predictions"][0]["label"]).inc()
            if arm:
                service.metrics.ab.labels(entry.id, arm).inc()
        return {**out, "request_id": request_id, "arm": arm, "feedback": bool(ops and ops.enabled),
                "latency_ms": round((time.perf_counter() - start) * 1000, 1)}

    return routes
