"""``POST /v1/explain``: a class activation map over the image, as a PNG.

The map is drawn by the library as ``artlens explain`` draws it: on the painting at its own resolution
(longest side at most :data:`OVERLAY_SIDE`), in a perceptual colormap over the dimmed paint, a cropping
model's crop in place; the caption (class, probability, method, layer) goes in ``X-Caption``.
The fast CAM methods run in the ``compute`` work class; the slow ones (:data:`SLOW_CAM_METHODS`: a
minute per image on a CPU) answer 202 with a background job whose result is that PNG.
"""

import time
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from ..features import OVERLAY_SIDE, SLOW_CAM_METHODS, png_bytes
from ..registry import ModelEntry
from ..schemas import JobEnvelope, errors
from ..service import Service, cam_headers, client_of, model_form
from ..uploads import DecodedImage

__all__ = ["router"]


def check_target(entry: ModelEntry, target: str) -> None:
    """The class to explain is checked before any work is queued (a slow CAM's job would find out a
    minute later); a class the model does not have is a 404, as a model the server does not have."""
    if target and target not in entry.classes and not (target.isdigit() and int(target) < len(entry.classes)):
        raise HTTPException(404, f"unknown class {target[:80]!r} for {entry.id}; the model's classes: "
                                 f"{', '.join(entry.classes)}")


def router(service: Service) -> APIRouter:
    routes = APIRouter(tags=["models"])
    explainers, cam_methods = service.explainers, service.explainers.methods()

    @routes.post("/v1/explain", response_class=Response,
                 responses={200: {"content": {"image/png": {}}, "description": "CAM overlay; the label in X-Label"},
                            202: {"model": JobEnvelope, "description": f"A slow method ({', '.join(SLOW_CAM_METHODS)}): "
                                                                       "a job to poll at GET /v1/jobs/{id}"},
                            **errors(403, 404, 413, 415, 422, 429, 503)})
    async def explain(request: Request,
                      file: Annotated[UploadFile, File(description="The image.")],
                      model: Annotated[str, model_form()] = "",
                      method: Annotated[str, Form(description=f"CAM method; {', '.join(SLOW_CAM_METHODS)} run as "
                                                              "background jobs (202).",
                                                  json_schema_extra={"enum": cam_methods} if cam_methods else None)] = "gradcam",
                      target: Annotated[str, Form(description="Class to explain; empty = the predicted one.")] = "") -> Response:
        """The class activation map over the image, as a PNG (label and probability in headers); a slow
        method answers 202 and a job whose result is that PNG."""
        start = time.perf_counter()
        entry = service.registry.resolve(model or None)
        explainers.check(method)  # an unknown method is a 422 listing the valid ones, before any work
        check_target(entry, target)
        data = await service.read(file)

        def decode() -> tuple[DecodedImage, DecodedImage]:
            """The model's input decoded as /v1/predict decodes it (same pixels: same class and probability),
            and the picture to draw on at up to OVERLAY_SIDE when that first decode was a smaller JPEG draft."""
            img = service.decode(data, "file", entry.decode_size)
            if max(img.image.size) >= min(max(img.width, img.height), OVERLAY_SIDE):
                return img, img
            return img, service.decode(data, "file", OVERLAY_SIDE)

        def render(img: DecodedImage, picture: DecodedImage, report=None) -> tuple[bytes, dict[str, Any]]:
            # The explainer averages over the bundle's TTA views as /v1/predict does: same class, same probability.
            result = explainers.explain(entry, img.image, method=method, target=target or None, progress=report)
            overlay, caption = explainers.draw(entry, picture.image, result, method=method)
            return png_bytes(overlay), {"model": entry.id, "label": result.label, "prob": f"{result.prob:.4f}",
                                        "predicted": result.predicted, "method": method,
                                        "caption": caption}

        if method in SLOW_CAM_METHODS:
            img, picture = await service.predict_work.run(decode, is_disconnected=request.is_disconnected)

            def job(report) -> tuple[bytes, dict[str, Any]]:
                report(0.0, f"loading {method} for {entry.id}")
                return render(img, picture, report)

            return service.accepted(service.jobs.submit(
                method, job, request_id=request.state.request_id, client=client_of(request),
                estimate_s=explainers.estimate_s(entry), info={"model": entry.id, "method": method}))

        def work() -> tuple[bytes, dict[str, Any]]:
            return render(*decode())

        png, info = await service.compute_work.run(work, is_disconnected=request.is_disconnected)
        headers = {**cam_headers(info), "X-Latency-Ms": f"{(time.perf_counter() - start) * 1000:.1f}"}
        return Response(png, media_type="image/png", headers=headers)

    return routes
