"""Commands: artlens serve (issue 7)."""

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
    queue_size: Annotated[int, typer.Option(help="Background style jobs allowed to wait (429 above).")] = 4,
) -> None:
    """Serve the REST API (OpenAPI at /docs) and the web page: classify, explain and stylise."""
    import uvicorn

    from ..serve import ServeConfig, create_app

    cfg = ServeConfig(models_dir=models, default_model=default_model, device=device, max_upload_mb=max_upload_mb,
                      max_batch=max_batch, queue_size=queue_size)
    web = create_app(cfg)
    names = ", ".join(e.id for e in web.state.registry.entries())
    err_console.print(Text.assemble(f"serving {names} on ", (f"http://{host}:{port}/", "bold"),
                                    " (API docs: /docs); Ctrl+C stops"))
    uvicorn.run(web, host=host, port=port, access_log=False, log_config=None)
