"""The loop docs/serve.md describes, end to end from the command line: serve with a database and
stored uploads, collect feedback, ``artlens feedback export``, ``artlens train --data`` the manifest
with ``--name``/``--version``, ``artlens models promote`` the new version (the running server follows
it without a restart), ``artlens monitor``, ``artlens models rollback``.
"""

from __future__ import annotations

import json
import shutil

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from artlens.cli import app as cli
from artlens.serve import create_app

from .conftest import test_config, upload

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_feedback_export_train_promote_monitor_rollback(models_dir, artdata, tmp_path):
    served = tmp_path / "models"
    shutil.copytree(models_dir, served)
    db, uploads = str(tmp_path / "ops.db"), str(tmp_path / "uploads")
    paintings = {label: sorted((artdata / "wikiart11" / label).glob("*.jpg"))[:8] for label in ("Baroque", "Ukiyo_e")}

    def create():
        return create_app(test_config(models_dir=str(served), default_model="tiny-styles", db=db,
                                      store_uploads=uploads, alias_refresh_s=0.01))

    with TestClient(create()) as c:
        for label, paths in paintings.items():
            for p in paths:
                answer = c.post("/v1/predict", files=upload(p.read_bytes())).json()
                assert c.post("/v1/feedback", json={"request_id": answer["request_id"], "label": label}).status_code == 200

        manifest = tmp_path / "feedback.csv"
        assert "wrote" in run("feedback", "export", "--db", db, "--out", str(manifest))
        assert len(manifest.read_text().splitlines()) == 17  # header + 16 corrected or confirmed paintings

        run("train", "--data", str(manifest), "--backbone", "tiny_cnn", "--strategy", "scratch", "--epochs", "1",
            "--out", str(served / "retrained"), "--workers", "0", "--batch-size", "8", "--name", "tiny-styles",
            "--version", "3", "--val-fraction", "0.25")
        meta = json.loads((served / "retrained" / "model" / "artlens.json").read_text())
        assert (meta["name"], meta["version"]) == ("tiny-styles", "3") and "drift_reference" in meta

    with TestClient(create()) as c:  # a restart picks up the new bundle; the alias does the rest
        assert c.post("/v1/predict", files=upload(paintings["Baroque"][0].read_bytes())).json()["model"] == "tiny-styles@3"
        run("models", "promote", "tiny-styles@2", "--db", db, "--models", str(served))
        assert "tiny-styles@2" in run("models", "list", "--db", db, "--models", str(served))
        assert c.post("/v1/predict", files=upload(paintings["Baroque"][0].read_bytes())).json()["model"] == "tiny-styles@2"
        run("models", "promote", "tiny-styles@3", "--db", db)
        assert c.post("/v1/predict", files=upload(paintings["Baroque"][0].read_bytes())).json()["model"] == "tiny-styles@3"
        assert "3 -> 2" in run("models", "rollback", "tiny-styles", "--db", db)
        assert c.post("/v1/predict", files=upload(paintings["Baroque"][0].read_bytes())).json()["model"] == "tiny-styles@2"

    out = tmp_path / "monitor"
    printed = run("monitor", "--db", db, "--out", str(out), "--models", str(served))
    assert "tiny-styles@2" in printed and (out / "report.md").is_file() and (out / "accuracy.png").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["models"]["tiny-styles@2"]["feedback"] == 16

    failed = runner.invoke(cli, ["models", "promote", "tiny-styles@9", "--db", db, "--models", str(served)])
    assert failed.exit_code != 0
