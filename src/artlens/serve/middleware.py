"""ASGI middleware: request ids and logs, a body-size guard, security headers, JSON for crashes.

Plain ASGI classes rather than ``BaseHTTPMiddleware``: they add no task per request and can refuse
an oversized body while it is still arriving (Content-Length checked first, then the bytes counted
for chunked uploads), before Starlette spools it to disk.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "RequestContext", "json_error_body"]

log = logging.getLogger("artlens.serve")

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

#: Same-origin only: the page loads nothing from a CDN, and this makes sure it never will.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
PAGE_CSP = b"default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; object-src 'none'"


def json_error_body(status: int, message: str, request_id: str) -> bytes:
    """Every error the service sends has this body: ``{"error", "status", "request_id"}``."""
    return json.dumps({"error": message, "status": status, "request_id": request_id}).encode()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class RequestContext:
    """Gives each request an id (the client's ``X-Request-ID`` if sane), echoes it, logs one line.

    The id is in ``request.state.request_id`` for handlers and job logs. An exception that escapes
    every handler still becomes a JSON 500 carrying the id, never an HTML page or a dropped socket.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _CLIENT_ID.match(given) else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.perf_counter()
        status: dict[str, Any] = {"code": 0}
        is_api = scope["path"].startswith(("/v1/", "/healthz"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers += SECURITY_HEADERS
                if not is_api and not scope["path"].startswith(("/docs", "/redoc", "/openapi")):
                    headers.append((b"content-security-policy", PAGE_CSP))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("[%s] %s %s crashed", request_id, scope["method"], scope["path"])
            if status["code"]:
                raise  # the response had started: nothing clean can be sent any more
            status["code"] = 500
            body = json_error_body(500, "internal server error (see the server log for this request id)", request_id)
            await send_with_id({"type": "http.response.start", "status": 500,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        finally:
            ms = (time.perf_counter() - start) * 1000
            log.info("[%s] %s %s -> %s (%.0f ms)", request_id, scope["method"], scope["path"], status["code"], ms)


class BodyLimit:
    """Refuses request bodies larger than ``max_bytes`` with 413, without reading them in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return f"request body is larger than the {self.max_bytes / 2**20:.1f} MB limit"  # MB as in max_upload_mb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            request_id = scope.get("state", {}).get("request_id", "")
            body = json_error_body(413, self._too_large(), request_id)
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                    (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Raised inside FastAPI's body parsing, which passes HTTPExceptions through.
                    raise HTTPException(413, self._too_large())
            return message

        await self.app(scope, counting_receive, send)
