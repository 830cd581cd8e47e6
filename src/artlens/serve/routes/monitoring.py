"""``GET /metrics``: the app's Prometheus metrics in the text exposition format (see :mod:`..metrics`)."""

from fastapi import APIRouter
from fastapi.responses import Response

from ..metrics import CONTENT_TYPE_LATEST
from ..service import Service

__all__ = ["router"]


def router(service: Service) -> APIRouter:
    routes = APIRouter(tags=["health"])
    metrics = service.metrics

    @routes.get("/metrics", response_class=Response,
                responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    def prometheus() -> Response:
        """Requests, errors and latency per route and model, predicted-class and feedback counts."""
        body = metrics.render() if metrics is not None else b""
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return routes
