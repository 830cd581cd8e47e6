"""The page's files are served locally (no CDN) and `artlens serve` starts or fails in one line."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from artlens import ArtlensError
from artlens.cli import app
from artlens.serve.app import web_root


def test_the_page_and_its_assets_come_from_this_server(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert sorted(set(assets)) == ["/static/app.css", "/static/app.js", "/static/detect.css", "/static/detect.js",
                                   "/static/favicon.svg", "/static/feedback.css", "/static/feedback.js"]
    for asset in set(assets):
        assert client.get(asset).status_code == 200
    for path in web_root().iterdir():  # nothing is fetched from elsewhere: the machine may be offline
        text = path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a fetch
        assert not re.search(r"https?://", text), path


def test_openapi_describes_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/v1/models", "/v1/predict", "/v1/explain", "/v1/stylize", "/v1/jobs/{job_id}",
            "/v1/jobs/{job_id}/result"} <= set(paths)


def test_the_api_docs_load_swagger_ui_from_this_server(client):
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    scripts = re.findall(r"""(?:src|href)=['"]([^'"]+\.(?:js|css))['"]""", docs.text)
    assert scripts and all(url.startswith("/") and not url.startswith("//") for url in scripts), scripts
    for url in scripts:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 10_000, url


def test_serve_help_lists_its_options():
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--models", "--host", "--port", "--max-upload-mb", "--queue-size"):
        assert option in result.output


def test_serve_with_a_missing_models_folder_fails_before_listening(tmp_path):
    # The CLI's main() prints an ArtlensError as one "error: ..." line and exits 2 (tests/test_cli.py).
    result = CliRunner().invoke(app, ["serve", "--models", str(tmp_path / "nope"), "--port", "1"])
    assert isinstance(result.exception, ArtlensError)
    assert str(result.exception) == f"--models {tmp_path / 'nope'}: no such folder"
