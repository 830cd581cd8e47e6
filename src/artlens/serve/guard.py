"""Who may talk to the service: the Host header against DNS rebinding, Origin against cross-site forms.

A server on ``127.0.0.1`` is not private to the user's own programs: any web page the user has open
can POST a plain HTML form to it (multipart forms need no CORS preflight), and so fill its queues, and
a page on ``evil.example`` whose DNS name is re-pointed at 127.0.0.1 can even read its answers. So
(issue 28):

* every request's ``Host`` must be a name the server answers to: ``localhost``, any IP literal (a
  rebinding attack needs a DNS name; an IP cannot be re-pointed), the name it was bound to, and the
  ``--allowed-host`` names; anything else gets 400;
* every request that spends compute or changes state (``POST``, ``DELETE``, ...) must come from this
  server's own page or from no page at all: a browser says where a request comes from in ``Origin``
  and ``Sec-Fetch-Site``, and a request whose origin is another site gets 403, unless that origin was
  allowed with ``--allow-origin``. curl and scripts send neither header and are let through.

Both refusals are the service's JSON error body.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from .middleware import json_error_body

__all__ = ["HostAndOriginGuard", "host_name", "normal_origin"]

#: Methods that never change state: a cross-site page may still send them (and cannot read the answer).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain"})


def host_name(host: str) -> str:
    """``Host`` header -> the name without port, lower case (``[::1]:8000`` -> ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def normal_origin(origin: str) -> str:
    """``HTTP://Example.com:80/`` -> ``http://example.com`` (what browsers send in ``Origin``)."""
    parts = urlsplit(origin.strip().rstrip("/").lower())
    default = {"http": 80, "https": 443}.get(parts.scheme)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port and parts.port != default:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}"


class HostAndOriginGuard:
    """Refuses requests for a foreign ``Host`` (400) and cross-origin state-changing requests (403)."""

    def __init__(self, app: ASGIApp, *, bound_host: str | None = None, allowed_hosts: Iterable[str] = (),
                 allow_origins: Iterable[str] = ()) -> None:
        self.app = app
        names = {host_name(h) for h in allowed_hosts}
        self.any_host = "*" in names
        if bound_host and bound_host not in ("0.0.0.0", "::"):
            names.add(host_name(bound_host))
        self.hosts = frozenset(names | LOCAL_NAMES)
        self.origins = frozenset(normal_origin(o) for o in allow_origins)

    def host_allowed(self, host: str) -> bool:
        name = host_name(host)
        return self.any_host or name in self.hosts or _is_ip(name)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if not self.host_allowed(host):
            return 400, (f"Host {host[:100]!r} is not a name this server answers to (a guard against DNS "
                         "rebinding); start it with --allowed-host NAME to serve it under that name")
        if scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None:
            if origin == "null" or (normal_origin(origin) != normal_origin(f"{scope.get('scheme', 'http')}://{host}")
                                    and normal_origin(origin) not in self.origins):
                return 403, (f"cross-origin {scope['method']} from {origin[:100]!r} refused: only this server's own "
                             "page may send it (start the server with --allow-origin ORIGIN to allow another)")
            return None
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return 403, (f"cross-site {scope['method']} refused (Sec-Fetch-Site: {site[:40]}): only this server's "
                         "own page may send it")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, message = refused
        body = json_error_body(status, message, scope.get("state", {}).get("request_id", ""))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
