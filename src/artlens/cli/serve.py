"""Commands: artlens serve (issue 7; cost classes and cross-origin guards: issue 28; operations: issue 36)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.text import Text

from .app import app, check_device, err_console


@app.command()
def serve(
    models: Annotated[Optional[str], typer.Option("--models", help="Folder of model bundles (and style decoders) to offer besides the built-in model.")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on (127.0.0.1 = this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    default_model: Annotated[Optional[str], typer.Option(help="Model used when a request names none.")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:1", callback=check_device)] = "auto",
    max_upload_mb: Annotated[float, typer.Option(help="Largest accepted image file (413 above).")] = 10.0,
    max_batch: Annotated[int, typer.Option(help="Concurrent predict requests run through the model together.")] = 16,
    queue_size: Annotated[int, typer.Option(help="Background jobs (Gatys, slow CAMs) allowed to wait (429 above).")] = 4,
    jobs_per_client: Annotated[int, typer.Option(help="Background jobs one client address may have queued or running.")] = 2,
    compute_queue: Annotated[int, typer.Option(help="Fast CAM / AdaIN requests allowed to wait for the compute thread (429 above).")] = 4,
    allowed_host: Annotated[Optional[list[str]], typer.Option("--allowed-host", help="Another name the Host header may carry (repeatable; localhost and IP addresses always may). Guards against DNS rebinding.")] = None,
    allow_origin: Annotated[Optional[list[str]], typer.Option("--allow-origin", help="Another web origin (https://example.org) whose pages may POST and DELETE here (repeatable).")] = None,
    shutdown_grace: Annotated[float, typer.Option(help="Seconds a stop (Ctrl+C, SIGTERM) waits for requests already running; waiting ones are answered 503 at once.")] = 5.0,
    db: Annotated[Optional[str], typer.Option(help="Operations database: a SQLite file (e.g. ops.db) or an SQLAlchemy URL (postgresql://user@host/db) shared by several servers. Records every prediction (hashes, size, format, top-k; not the image), takes feedback, keeps jobs and model aliases.")] = None,
    store_uploads: Annotated[Optional[str], typer.Option(help="Folder where uploaded images are kept for retraining on feedback (otherwise only their hashes are).")] = None,
    admin_token: Annotated[Optional[str], typer.Option(envvar="ARTLENS_ADMIN_TOKEN", help="Token of the admin routes (promote, rollback, A/B weights, export); without one they do not exist.")] = None,
    ab: Annotated[Optional[list[str]], typer.Option("--ab", help="A/B test: NAME=ARM:WEIGHT,ARM:WEIGHT (arms: aliases or versions, e.g. styles=production:0.9,candidate:0.1); sticky per client (repeatable).")] = None,
    shadow: Annotated[Optional[list[str]], typer.Option("--shadow", help="NAME=ARM: that version scores every request for NAME too, its answer only logged (repeatable).")] = None,
    feedback_per_minute: Annotated[int, typer.Option(help="Feedback one client address may send per minute.")] = 30,
) -> None:
    """Serve the REST API (OpenAPI at /docs) and the web page: classify, explain and stylise."""
    import uvicorn

    from ..serve import ServeConfig, create_app

    cfg = ServeConfig(models_dir=models, default_model=default_model, device=device, max_upload_mb=max_upload_mb,
                      max_batch=max_batch, queue_size=queue_size, jobs_per_client=jobs_per_client,
                      compute_queue=compute_queue, host=host, allowed_hosts=tuple(allowed_host or ()),
                      allow_origins=tuple(allow_origin or ()), db=db, store_uploads=store_uploads,
                      admin_token=admin_token, ab=tuple(ab or ()), shadow=tuple(shadow or ()),
                      feedback_per_minute=feedback_per_minute)
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
                          timeout_graceful_shutdown=max(1, round(shutdown_grace)))).run()
