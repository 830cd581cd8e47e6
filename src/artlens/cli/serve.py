"""Commands: artlens serve (issue 7; cost classes and cross-origin guards: issue 28; operations: issue 36)."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.text import Text

from ..ops import default_database
from ..serve import ServeConfig
from ._flags import config_flags, with_flags
from .app import app, err_console


#: The flags of ``artlens serve``: fields of :class:`~artlens.serve.ServeConfig` (their help is the field's
#: docstring); the rest of its fields (timeouts, worker counts, ...) are for the Python API and tests.
SERVE_FLAGS = config_flags(ServeConfig, only={
    "models_dir", "host", "default_model", "device", "precision", "max_upload_mb", "max_batch", "queue_size", "jobs_per_client",
    "compute_queue", "allowed_hosts", "allow_origins", "shutdown_grace", "db", "store_uploads", "admin_token", "ab",
    "shadow", "feedback_per_minute", "job_retention_hours"},
    rename={"models_dir": "models", "allowed_hosts": "allowed_host", "allow_origins": "allow_origin"},
    defaults={"host": "127.0.0.1"})


@app.command()
@with_flags(SERVE_FLAGS)
def serve(
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    *, given: dict[str, Any],
) -> None:
    """Serve the REST API (OpenAPI at /docs) and the web page: classify, explain and stylise."""
    import uvicorn

    from ..serve import create_app

    # Recorded by default, into a SQLite file that needs no set-up; --db none records nothing.
    given = {"host": "127.0.0.1", "db": default_database(), **given}
    if str(given["db"]).lower() == "none":
        given["db"] = None
    if given.get("admin_token") is None and os.environ.get("ARTLENS_ADMIN_TOKEN"):
        given["admin_token"] = os.environ["ARTLENS_ADMIN_TOKEN"]
    cfg = ServeConfig(**given)
    host = cfg.host
    web = create_app(cfg)

    class Server(uvicorn.Server):
        """Uvicorn, but a stop drops the backlog at once instead of serving it first."""

        def handle_exit(self, sig, frame) -> None:  # type: ignore[no-untyped-def]
            web.state.stop_work()
            super().handle_exit(sig, frame)

    names = ", ".join(e.id for e in web.state.registry.entries())
    err_console.print(Text.assemble(f"serving {names} on ", (f"http://{host}:{port}/", "bold"),
                                    " (API docs: /docs); Ctrl+C stops"))
    Server(uvicorn.Config(web, host=host, port=port, access_log=False, log_config=None,
                          timeout_graceful_shutdown=max(1, round(cfg.shutdown_grace)))).run()
