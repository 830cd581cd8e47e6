"""``GET /``: the one-page app; its scripts and styles are the app's ``/static`` mount of :func:`web_root`."""

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ..service import Service

__all__ = ["router", "web_root"]


def web_root() -> Path:
    """The page's files (shipped as package data under ``artlens/assets/web``)."""
    return Path(str(resources.files("artlens") / "assets" / "web"))


def router(service: Service) -> APIRouter:
    routes = APIRouter()
    root = web_root()

    @routes.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(root / "index.html", headers={"Cache-Control": "no-cache"})

    return routes
