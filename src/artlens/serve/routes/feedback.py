"""``POST /v1/feedback``: a visitor says an answer was right, or which label was.

Offered only when the server records answers (``--db``). The body names the request, never a model:
the feedback is filed under the model and version that answered that request, so nobody can pin
feedback on another version. One feedback per request id (409 after that); each client address may
send ``feedback_per_minute`` (429 with ``Retry-After`` beyond).
"""

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ...ops import FeedbackError
from ..schemas import FeedbackRequest, FeedbackResponse, errors
from ..service import Service, client_of

__all__ = ["router"]


def router(service: Service) -> APIRouter:
    routes = APIRouter(tags=["feedback"])
    ops = service.ops
    if ops is None or not ops.enabled:
        return routes
    store = ops.store
    assert store is not None

    @routes.post("/v1/feedback", response_model=FeedbackResponse, responses=errors(403, 404, 409, 422, 429))
    async def give_feedback(request: Request, body: FeedbackRequest) -> dict[str, Any]:
        """Record the right label of an answered request (``label``: one of the model's classes, or
        ``correct``); feeds ``artlens monitor`` (accuracy, confusion matrix) and ``artlens feedback export``."""
        if not ops.feedback_limit.allow(client_of(request)):
            raise HTTPException(429, f"at most {ops.feedback_limit.per_minute} feedback per minute from one address",
                                headers={"Retry-After": "60"})
        try:
            rec = await run_in_threadpool(store.add_feedback, body.request_id, body.label, client=client_of(request))
        except FeedbackError as err:
            raise HTTPException(err.status, str(err)) from None
        request.state.model = rec.model_id
        if service.metrics is not None:
            service.metrics.feedback.labels(rec.model_id, "correct" if rec.correct else "wrong").inc()
        return {"request_id": rec.request_id, "model": rec.model_id, "predicted": rec.predicted, "label": rec.label,
                "correct": rec.correct}

    return routes
