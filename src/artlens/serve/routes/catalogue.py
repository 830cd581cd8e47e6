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


def _add(routes: APIRouter, items: dict[str, Artwork], route: str, *, what: str, licence: bool,
         model: type, listing_doc: str, image_doc: str) -> None:
    """``GET route`` lists ``items`` (as ``model``), ``GET route/{name}`` answers one's image."""
    key = route.rsplit("/", 1)[-1]

    def listing() -> dict[str, Any]:
        return {key: _listing(items, route, licence=licence)}

    def image(name: Annotated[str, PathParam(json_schema_extra={"pattern": _ASSET_NAME})]) -> FileResponse:
        return _file(items, name, what)

    routes.add_api_route(route, listing, methods=["GET"], name=f"list_{key}", response_model=model,
                         responses=errors(), description=listing_doc)
    routes.add_api_route(f"{route}/{{name}}", image, methods=["GET"], name=f"{what}_image", response_class=FileResponse,
                         responses=_IMAGE, description=image_doc)


def router(service: Service) -> APIRouter:
    routes = APIRouter(tags=["catalogue"])
    _add(routes, {a.name: a for a in catalogue("examples", default_licence="CC0")}, "/v1/examples", what="example",
         licence=False, model=ExamplesResponse,
         listing_doc="The example paintings shipped with artlens (public domain), to try the classifier on.",
         image_doc="One example painting (a name from GET /v1/examples).")
    _add(routes, {a.name: a for a in catalogue("styles")}, "/v1/styles", what="style", licence=True,
         model=StylesResponse, listing_doc="Preset style images (public-domain paintings from CC0 and MIT-licensed copies).",
         image_doc="One preset style image (a name from GET /v1/styles).")
    return routes
