"""Prometheus metrics of one app (``GET /metrics``, text format, prometheus-client).

Each app has its own :class:`prometheus_client.CollectorRegistry`, so two apps in one process (tests,
or an app mounted twice) count separately. Per route (the path template, ``/v1/jobs/{job_id}``, never
the raw path, so ids do not explode the label space), method, status and model:

* ``artlens_requests_total`` and ``artlens_request_errors_total`` (status 400 and up);
* ``artlens_request_latency_seconds`` (histogram);
* ``artlens_predictions_total{model, label}``: the top-1 class of each answer;
* ``artlens_feedback_total{model, verdict}``: ``correct`` or ``wrong``;
* ``artlens_ab_requests_total{model, arm}`` and ``artlens_shadow_predictions_total{model}``.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "MetricsMiddleware"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The counters and histograms of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("artlens_requests", "HTTP requests answered", ["route", "method", "status", "model"],
                                registry=r)
        self.errors = Counter("artlens_request_errors", "HTTP requests answered with status 400 or more",
                              ["route", "method", "status", "model"], registry=r)
        self.latency = Histogram("artlens_request_latency_seconds", "Time to answer a request",
                                 ["route", "method", "model"], buckets=_BUCKETS, registry=r)
        self.predictions = Counter("artlens_predictions", "Predictions answered, by top-1 class", ["model", "label"],
                                   registry=r)
        self.feedback = Counter("artlens_feedback", "Feedback received", ["model", "verdict"], registry=r)
        self.ab = Counter("artlens_ab_requests", "Predictions answered per A/B arm", ["model", "arm"], registry=r)
        self.shadow = Counter("artlens_shadow_predictions", "Requests also scored by a shadow model", ["model"],
                              registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every HTTP request once it is answered; the model comes from ``request.state.model``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = getattr(scope.get("route"), "path", None) or ("/static" if scope["path"].startswith("/static/")
                                                                    else "unmatched")
            model = str(scope.get("state", {}).get("model", ""))
            labels = (route, scope["method"], str(status["code"]), model)
            self.metrics.requests.labels(*labels).inc()
            if status["code"] >= 400:
                self.metrics.errors.labels(*labels).inc()
            self.metrics.latency.labels(route, scope["method"], model).observe(time.perf_counter() - start)
