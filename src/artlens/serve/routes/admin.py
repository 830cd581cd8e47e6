"""Admin routes: what changes what is served (promote, rollback, A/B weights) and the feedback export.

They exist only when the server has an admin token (``--admin-token`` or ``ARTLENS_ADMIN_TOKEN``) and
a database; every call must carry ``Authorization: Bearer <token>`` (401 otherwise, compared in
constant time). Without a token the paths are simply unknown (404): nothing to guess.
"""

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ... import ArtlensError
from ...ops import ExportConfig, export_feedback
from ..registry import UnknownModel
from ..schemas import ABWeights, AliasChange, Rollback, errors
from ..service import Service

__all__ = ["router"]


def router(service: Service) -> APIRouter:
    routes = APIRouter(tags=["admin"])
    token, ops = service.config.admin_token, service.ops
    if not token or ops is None or ops.store is None:
        return routes
    store, registry = ops.store, service.registry

    def admin(request: Request) -> None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "admin token missing or wrong (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"})

    guarded = [Depends(admin)]

    def state() -> dict[str, Any]:
        ops.refresh_aliases()
        return {"aliases": ops.aliases(), "ab": [s.to_text() for s in ops.ab.values()],
                "defaults": {task: registry.resolve(None, task=task).id for task in registry.defaults},
                "history": [{**h, "created": str(h["created"])} for h in store.alias_log()][-50:]}

    @routes.get("/v1/admin/models", dependencies=guarded, responses=errors(401))
    def admin_models() -> dict[str, Any]:
        """Aliases, A/B splits, what a request naming no model gets now, and the alias history."""
        return state()

    @routes.post("/v1/admin/promote", dependencies=guarded, responses=errors(401, 403, 404, 422))
    def promote(body: AliasChange) -> dict[str, Any]:
        """Point ``alias`` of a model at one of its installed versions (served without a restart)."""
        entry = registry.resolve(body.model, task=None)
        if entry.id != body.model:
            raise UnknownModel(f"{body.model} is not an installed version", 404)
        before = store.set_alias(entry.name, body.alias, entry.version)
        return {"name": entry.name, "alias": body.alias, "version": entry.version, "previous": before, **state()}

    @routes.post("/v1/admin/rollback", dependencies=guarded, responses=errors(401, 403, 422))
    def rollback(body: Rollback) -> dict[str, Any]:
        """Point ``alias`` back at the version it had before the last promotion."""
        before, after = store.rollback(body.name, body.alias)
        return {"name": body.name, "alias": body.alias, "version": after, "previous": before, **state()}

    @routes.put("/v1/admin/ab", dependencies=guarded, responses=errors(401, 403, 404, 422))
    def ab_weights(body: ABWeights) -> dict[str, Any]:
        """Change the weights of a running A/B test (``0`` takes an arm out); clients keep their hash."""
        try:
            split = ops.set_ab_weights(body.name, body.weights)
        except ArtlensError as err:
            if isinstance(err, UnknownModel):
                raise
            raise HTTPException(422, str(err)) from None
        return {"ab": split.to_text()}

    @routes.get("/v1/admin/feedback/export", dependencies=guarded, response_class=Response,
                responses={200: {"content": {"text/csv": {}}, "description": "path,label,request_id,model,predicted"},
                           **errors(401, 422)})
    async def export(corrections_only: Annotated[bool, Query()] = False) -> Response:
        """The manifest of labelled, stored images that ``artlens train --data`` reads (server paths)."""
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            cfg = ExportConfig(db=store.url, out=str(Path(tmp) / "feedback.csv"), corrections_only=corrections_only)
            result = await run_in_threadpool(export_feedback, cfg, store=store)
            return Response(result.manifest.read_bytes(), media_type="text/csv",
                            headers={"Content-Disposition": 'attachment; filename="feedback.csv"'})

    return routes
