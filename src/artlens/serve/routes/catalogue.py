"""The example paintings and preset style images shipped with artlens: listings and files, by name."""

from typing import Annotated, Any

from fastapi import APIRouter, Path as PathParam
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException

from ..catalogue import Artwork, catalogue
from ..schemas import ExamplesResponse, StylesResponse, errors
from ..service import Service

__all__ = ["router"]

#: Images of the catalogues, by name (file names: letters, digits, ``._-``).
_ASSET_NAME = "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_IMAGE = {200: {"content": {"image/jpeg": {}}, "description": "The image."}, **errors(404)}


def _listing(items: dict[str, Artwork], route: str, *, licence: bool) -> list[dict[str, str]]:
    return [{"name": a.name, "url": f"{route}/{a.name}", "title": a.title, "artist": a.artist,
             **({"licence": a.licence} if licence else {})} for a in items.values()]


def _file(items: dict[str, Artwork], name: str, what: str) -> FileResponse:
    if name not in items:  # a name from the listing, never a path
        raise HTTPException(404, f"no {what} called {name[:60]!r}; GET the listing for the names")
    return FileResponse(items[name].path, headers={"Cache-Control": "public, max-age=86400"})


def router(service: Service) -> APIRouter:
    routes = APIRouter(tags=["catalogue"])
    examples = {a.name: a for a in catalogue("examples", default_licence="CC0")}
    styles = {a.name: a for a in catalogue("styles")}

    @routes.get("/v1/examples", response_model=ExamplesResponse, responses=errors())
    def list_examples() -> dict[str, Any]:
        """The example paintings shipped with artlens (public domain), to try the classifier on."""
        return {"examples": _listing(examples, "/v1/examples", licence=False)}

    @routes.get("/v1/examples/{name}", response_class=FileResponse, responses=_IMAGE)
    def example_image(name: Annotated[str, PathParam(json_schema_extra={"pattern": _ASSET_NAME})]) -> FileResponse:
        """One example painting (a name from GET /v1/examples)."""
        return _file(examples, name, "example")

    @routes.get("/v1/styles", response_model=StylesResponse, responses=errors())
    def list_styles() -> dict[str, Any]:
        """Preset style images (public-domain paintings from CC0 and MIT-licensed copies)."""
        return {"styles": _listing(styles, "/v1/styles", licence=True)}

    @routes.get("/v1/styles/{name}", response_class=FileResponse, responses=_IMAGE)
    def style_image(name: Annotated[str, PathParam(json_schema_extra={"pattern": _ASSET_NAME})]) -> FileResponse:
        """One preset style image (a name from GET /v1/styles)."""
        return _file(styles, name, "style")

    return routes
