"""``POST /v1/stylize``: AdaIN and CycleGAN answer the PNG (``compute`` work class); Gatys answers 202 and a job."""

import re
import time
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from ... import AdainConfig, ArtlensError, GatysConfig, Registry
from ..features import gatys_estimate_s, png_bytes
from ..forms import config_default, config_form
from ..schemas import JobEnvelope, errors
from ..service import MAX_STYLES, Service, client_of
from ..uploads import DecodedImage

__all__ = ["STYLE_METHODS", "router"]

#: ``POST /v1/stylize`` methods: ``sync`` answers the PNG, ``job`` answers 202 and a job to poll.
STYLE_METHODS: Registry[str] = Registry("style method")
STYLE_METHODS.add("adain", "sync")
STYLE_METHODS.add("gatys", "job")
STYLE_METHODS.add("cyclegan", "sync")  # a trained painter: no style image
#: ``style_weights``: non-negative numbers, comma-separated.
_WEIGHTS = r"^$|^[0-9]+(\.[0-9]+)?(,[0-9]+(\.[0-9]+)?)*$"


def router(service: Service) -> APIRouter:
    routes = APIRouter(tags=["style"])
    cfg, stylizers = service.config, service.stylizers

    @routes.post("/v1/stylize", response_class=Response, status_code=200,
                 responses={200: {"content": {"image/png": {}}, "description": "AdaIN or CycleGAN result"},
                            202: {"model": JobEnvelope, "description": "Gatys: a job to poll at GET /v1/jobs/{id}"},
                            **errors(403, 413, 415, 422, 429, 503)},
                 # Style images are required unless the method is cyclegan (JSON Schema's if/then, OpenAPI 3.1).
                 openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
                     "if": {"properties": {"method": {"const": "cyclegan"}}, "required": ["method"]},
                     "else": {"required": ["content", "style"], "properties": {"style": {"minItems": 1}}}}}}}})
    async def stylize(request: Request,
                      content: Annotated[UploadFile, File(description="The photo or painting to restyle.")],
                      style: Annotated[list[UploadFile], File(description=f"1 to {MAX_STYLES} style images "
                                                                          "(none for cyclegan, which ignores them).",
                                                              json_schema_extra={"maxItems": MAX_STYLES})] = [],  # noqa: B006
                      method: Annotated[str, Form(description="adain (immediate) | gatys (background job) | cyclegan "
                                                              "(immediate, the style its model was trained on)",
                                                  json_schema_extra={"enum": STYLE_METHODS.names()})] = "adain",
                      alpha: Annotated[float, config_form(AdainConfig, "alpha", prefix="AdaIN: ", ge=0.0, le=1.0)
                                       ] = config_default(AdainConfig, "alpha"),
                      preserve_color: Annotated[bool, Form()] = False,
                      decoder: Annotated[str, Form(description="AdaIN decoder name; empty = the first installed "
                                                               "(the built-in one).",
                                                   json_schema_extra={"enum": ["", *stylizers.decoders()]})] = "",
                      steps: Annotated[int, config_form(GatysConfig, "steps", prefix="Gatys: ", ge=1,
                                                        json_schema_extra={"maximum": cfg.max_gatys_steps})] = 100,
                      size: Annotated[int, Form(ge=32, description="Longer side of the result in pixels.",
                                                json_schema_extra={"maximum": cfg.max_style_size})] = 384,
                      translator: Annotated[str, Form(description="CycleGAN model name; empty = the first installed.")] = "",
                      direction: Annotated[str, Form(description="CycleGAN: a2b (e.g. photo to painting) or b2a.",
                                                     json_schema_extra={"enum": ["a2b", "b2a"]})] = "a2b",
                      style_weights: Annotated[str, Form(description="AdaIN: one weight per style image, comma-separated "
                                                                     "('2,1'); empty = equal. Gatys weighs them equally.",
                                                         json_schema_extra={"pattern": _WEIGHTS})] = "") -> Response:
        """AdaIN and CycleGAN answer the PNG; Gatys answers 202 with a job (GET /v1/jobs/{id}) and its estimated run time."""
        kind = STYLE_METHODS.get(method)
        if method == "cyclegan":
            style = []  # its model is its style: style images are neither read nor decoded
        elif not style:
            raise ArtlensError(f"style: {method} needs 1 to {MAX_STYLES} style images, got none")
        if direction not in ("a2b", "b2a"):
            raise ArtlensError(f"direction: a2b or b2a, got {direction[:20]!r}")
        if len(style) > MAX_STYLES:
            raise ArtlensError(f"style: at most {MAX_STYLES} style images, got {len(style)}")
        if size > cfg.max_style_size:
            raise ArtlensError(f"size: at most {cfg.max_style_size} pixels, got {size}")
        if steps > cfg.max_gatys_steps:
            raise ArtlensError(f"steps: at most {cfg.max_gatys_steps} for a Gatys job, got {steps}")
        if not re.match(_WEIGHTS, style_weights):
            raise ArtlensError(f"style_weights: comma-separated non-negative numbers, got {style_weights[:40]!r}")
        weights = [float(w) for w in style_weights.split(",")] if style_weights else None
        datas = [await service.read(content)] + [await service.read(s) for s in style]
        names = ["content"] + [f"style[{i}]" for i in range(len(style))]

        def decode_all() -> list[DecodedImage]:
            return [service.decode(d, n) for d, n in zip(datas, names)]

        if kind == "sync":
            start = time.perf_counter()

            def work() -> bytes:
                content_img, *style_imgs = (d.image for d in decode_all())
                if method == "cyclegan":
                    return png_bytes(stylizers.cyclegan(content_img, translator=translator or None,
                                                        direction=direction, size=size))
                out = stylizers.adain(content_img, style_imgs, decoder=decoder or None, alpha=alpha,
                                      preserve_color=preserve_color, size=size, weights=weights)
                return png_bytes(out)

            png = await service.compute_work.run(work, is_disconnected=request.is_disconnected)
            return Response(png, media_type="image/png",
                            headers={"X-Latency-Ms": f"{(time.perf_counter() - start) * 1000:.1f}"})
        decoded = await service.predict_work.run(decode_all, is_disconnected=request.is_disconnected)
        gatys_cfg = stylizers.gatys_config(extractor=cfg.gatys_extractor, steps=steps, size=size,
                                           preserve_color=preserve_color)
        fn = stylizers.gatys_job(decoded[0].image, [d.image for d in decoded[1:]], gatys_cfg)
        estimate = gatys_estimate_s(gatys_cfg, (decoded[0].width, decoded[0].height), styles=len(style),
                                    device=service.device)
        return service.accepted(service.jobs.submit("gatys", fn, request_id=request.state.request_id,
                                                    client=client_of(request), estimate_s=estimate))

    return routes
