"""``GET /healthz``: cheap, never queued behind work."""

from typing import Any

from fastapi import APIRouter

from ... import __version__
from ..schemas import errors
from ..service import Service

__all__ = ["router"]


def router(service: Service) -> APIRouter:
    routes = APIRouter(tags=["service"])

    @routes.get("/healthz", responses=errors())
    def healthz() -> dict[str, Any]:
        """Liveness: the process answers, with model, batching, work and job-queue counts."""
        return {"status": "ok", "version": __version__, "models": len(service.registry.entries()),
                "device": service.device, "precision": service.registry.precision,
                "batching": service.registry.batching_stats(), "jobs": service.jobs.stats(),
                "work": {name: w.stats() for name, w in service.work.items()}}

    return routes
