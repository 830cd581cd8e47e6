"""The operations library (issue 36) as a data team uses it from a notebook: the store read back on
SQLite and PostgreSQL, the bundle's drift reference made at training time, the monitoring report
(accuracy per model and week, confusion, class shares, drift, A/B arms, shadow) and its flags.

Drift is judged on real paintings: a model whose reference was made from Baroque and Rococo paintings
is sent unseen Baroque and Rococo paintings (no drift) or ukiyo-e prints (drift).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import torch

from artlens import ArtlensError, ModelConfig, fit, read_bundle_meta
from artlens.models import build_classifier, save_bundle
from artlens.ops import (ExportConfig, MonitorConfig, PredictionRecord, compare_arms, embed_images, export_feedback,
                         open_store, reference_from_images, run_monitor)

from .conftest import tiny_config
from .databases import database  # noqa: F401 - the fixture

CLASSES = ["Baroque", "Rococo", "Ukiyo_e"]


def record(store, request_id: str, *, model: str, label: str, when: datetime, embedding=None, arm=None,
           width: int = 224, fmt: str = "JPEG") -> None:
    other = next(c for c in CLASSES if c != label)
    store.record_prediction(PredictionRecord(
        request_id=request_id, model_id=model, classes=CLASSES, created=when,
        top_k=[{"label": label, "prob": 0.7}, {"label": other, "prob": 0.2}], sha256=f"{hash(request_id):064x}"[-64:],
        phash="0" * 16, width=width, height=width, format=fmt, size_bytes=1000, arm=arm, embedding=embedding))


def test_training_writes_name_version_and_a_drift_reference_into_the_bundle(tiny_tree, tmp_path):
    cfg = tiny_config(tiny_tree, tmp_path / "run", epochs=1, name="styles", version="3", drift_images=12)
    meta = read_bundle_meta(fit(cfg, show_progress=False).bundle)
    assert (meta["name"], meta["version"]) == ("styles", "3")
    ref = meta["drift_reference"]
    model = build_classifier(ModelConfig(backbone="tiny_cnn", pretrained="none"), 3)
    assert ref["n"] == 12 and ref["dims"] == model.embed_dim == len(ref["mean"]) == len(ref["std"])
    assert set(ref["class_shares"]) == {"Baroque", "Pop_Art", "Ukiyo_e"} and abs(sum(ref["class_shares"].values()) - 1) < 1e-6
    assert ref["formats"] == {"JPEG": 1.0}


@pytest.fixture(scope="module")
def baroque_rococo_model(artdata, tmp_path_factory):
    """Efficientnet-Lite0 with its real ImageNet weights (offline) and a Baroque + Rococo reference made
    from 24 paintings of each; 10 other paintings of each from the same lists (the training
    distribution), and 20 ukiyo-e prints, are what it is served."""
    torch.manual_seed(0)
    cfg = ModelConfig(backbone="efficientnet_lite0", pretrained="auto")
    model = build_classifier(cfg, len(CLASSES))
    paths = {c: sorted((artdata / "wikiart11" / c).glob("*.jpg")) for c in CLASSES}
    reference = reference_from_images(model, model.backbone.preprocessing,
                                      paths["Baroque"][:48:2] + paths["Rococo"][:48:2], device="cpu")
    root = tmp_path_factory.mktemp("drift-models")
    save_bundle(model, root / "old-masters", classes=CLASSES, model_cfg=cfg, name="old-masters", version="1",
                metrics={"split": "test", "accuracy": 0.8}, extra={"drift_reference": reference})
    served = {"same": paths["Baroque"][1:20:2] + paths["Rococo"][1:20:2], "ukiyo_e": paths["Ukiyo_e"][:20]}
    embedded = {k: embed_images(model, model.backbone.preprocessing, v, device="cpu")[0] for k, v in served.items()}
    return root, embedded


def test_drift_is_flagged_for_another_collection_and_not_for_the_training_one(database, baroque_rococo_model,
                                                                             tmp_path):
    models, embedded = baroque_rococo_model
    store = open_store(database)
    week1, week2 = datetime(2026, 11, 2, 10), datetime(2026, 11, 9, 10)  # ISO weeks 45 and 46
    for i, e in enumerate(embedded["same"]):
        record(store, f"same-{i}", model="old-masters@1", label="Baroque", when=week1, embedding=e)
    for i, e in enumerate(embedded["ukiyo_e"]):
        record(store, f"print-{i}", model="old-masters@1", label="Rococo", when=week2, embedding=e, fmt="PNG")
    store.close()

    report = run_monitor(MonitorConfig(db=database, out=str(tmp_path / "monitor"), models=str(models)))
    weeks = report.models["old-masters@1"]["weeks"]
    same, prints = weeks["2026-W45"]["drift"], weeks["2026-W46"]["drift"]
    assert not same["drift"] and prints["drift"], (same, prints)
    assert same["auc"] < 0.7 and prints["auc"] > 0.95 and prints["shift"] > 2 * same["shift"]
    assert [f.split(":")[0] for f in report.flags] == ["old-masters@1 2026-W46"]
    assert weeks["2026-W46"]["sizes_formats"]["format_distance"] == 1.0  # PNGs where training saw JPEGs
    assert (tmp_path / "monitor" / "drift_old-masters_1.png").stat().st_size > 5000


def test_monitor_reports_accuracy_per_model_and_week_and_flags_a_drop(database, tmp_path):
    store = open_store(database)
    week1, week2 = datetime(2026, 11, 2, 10), datetime(2026, 11, 9, 10)
    truth = {}
    for i in range(20):  # week 1: 9 of 10 right; week 2: 3 of 10 right
        when = week1 if i < 10 else week2
        right = (i < 9) if i < 10 else (i < 13)
        record(store, f"r{i}", model="styles@2", label="Baroque", when=when + timedelta(minutes=i),
               arm="production" if i % 2 else "candidate")
        truth[f"r{i}"] = "Baroque" if right else "Rococo"
        store.add_feedback(f"r{i}", truth[f"r{i}"])
    record(store, "s0", model="styles@1", label="Ukiyo_e", when=week1)
    store.record_shadow("r0", "styles@3", [{"label": "Rococo", "prob": 0.6}])
    store.close()

    report = run_monitor(MonitorConfig(db=database, out=str(tmp_path / "m"), accuracy_drop=0.2))
    styles = report.models["styles@2"]
    assert styles["feedback"] == 20 and styles["accuracy"] == pytest.approx(12 / 20)
    assert styles["weeks"]["2026-W45"]["accuracy"] == pytest.approx(0.9)
    assert styles["weeks"]["2026-W46"]["accuracy"] == pytest.approx(0.3)
    # With the week's interval: 3 of 10 right is anything from 11 % to 60 %.
    assert styles["weeks"]["2026-W46"]["ci95"] == [0.1078, 0.6032]
    assert report.flags == ["styles@2 2026-W46: accuracy 0.30 (95 % 0.11-0.60) from 10 feedback answers, 0.30 below "
                            "the reference 0.60 (all feedback)"]
    cm = styles["confusion"]
    assert cm["classes"] == CLASSES and cm["matrix"][1][0] == 8  # eight Rococo paintings called Baroque
    assert report.models["styles@1"]["predictions"] == 1 and report.models["styles@1"]["feedback"] == 0
    arms = report.ab["styles"]["arms"]
    assert (arms["candidate"]["n"], arms["production"]["n"]) == (10, 10)
    assert arms["candidate"]["ci95"][0] < arms["candidate"]["accuracy"] < arms["candidate"]["ci95"][1]
    assert report.shadow["styles@3"] == {"scored": 1, "agree": 0, "with_feedback": 1, "right": 0, "primary_right": 1,
                                         "agreement": 0.0, "accuracy": 0.0, "primary_accuracy": 1.0}
    out = tmp_path / "m"
    assert {p.name for p in report.figures} == {"accuracy.png", "confusion_styles_2.png", "classes_styles_2.png",
                                                "classes_styles_1.png"}
    assert json.loads((out / "report.json").read_text())["flags"] == report.flags
    assert "| 2026-W46 | 10 | 10 | 0.300 (0.11-0.60) (flagged) |" in (out / "report.md").read_text()


def test_two_arms_differ_significantly_only_with_enough_feedback():
    assert not compare_arms({"production": (8, 10), "candidate": (9, 10)})["significant"]
    big = compare_arms({"production": (800, 1000), "candidate": (900, 1000)})
    assert big["significant"] and big["p_value"] < 1e-6


def test_rollback_walks_back_through_promotions(database):
    store = open_store(database)
    for version in ("1", "2", "3"):
        store.set_alias("styles", "production", version)
    assert store.rollback("styles") == ("3", "2")
    assert store.rollback("styles") == ("2", "1")
    with pytest.raises(ArtlensError, match="no earlier version"):
        store.rollback("styles")
    assert store.aliases() == {"styles": {"production": "1"}}
    assert [h["action"] for h in store.alias_log("styles")] == ["promote"] * 3 + ["rollback"] * 2
    store.close()


def test_export_says_why_there_is_nothing_to_export(database, tmp_path):
    store = open_store(database)
    record(store, "r1", model="styles@2", label="Baroque", when=datetime(2026, 11, 2))
    store.add_feedback("r1", "Rococo")
    with pytest.raises(ArtlensError, match="1 have no stored image: start the server with --store-uploads"):
        export_feedback(ExportConfig(db=database, out=str(tmp_path / "f.csv")), store=store)
    store.close()


def test_a_database_that_cannot_be_opened_fails_in_one_line(tmp_path):
    with pytest.raises(ArtlensError, match="folder .* does not exist"):
        open_store(str(tmp_path / "missing" / "ops.db"))
    with pytest.raises(ArtlensError, match="cannot open the database"):
        open_store("postgresql://nobody@127.0.0.1:1/none")


def test_a_bundle_trained_before_references_gets_one_from_its_images(tiny_tree, tmp_path):
    from typer.testing import CliRunner

    from artlens.cli import app

    cfg = ModelConfig(backbone="tiny_cnn", pretrained="none")
    save_bundle(build_classifier(cfg, 3), tmp_path / "old", classes=["Baroque", "Pop_Art", "Ukiyo_e"], model_cfg=cfg)
    assert "drift_reference" not in read_bundle_meta(tmp_path / "old")
    result = CliRunner().invoke(app, ["models", "reference", str(tmp_path / "old"), "--data", str(tiny_tree),
                                      "--device", "cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    ref = read_bundle_meta(tmp_path / "old")["drift_reference"]
    assert ref["n"] == 30 and ref["class_shares"] == {"Baroque": 1 / 3, "Pop_Art": 1 / 3, "Ukiyo_e": 1 / 3}


def test_a_reference_from_a_manifest_embeds_its_training_rows_and_takes_the_test_rows_shares(tiny_tree, tmp_path):
    """What the default-model and detector scripts give ``add_drift_reference``: their split manifest."""
    from artlens.ops import add_drift_reference

    cfg = ModelConfig(backbone="tiny_cnn", pretrained="none")
    save_bundle(build_classifier(cfg, 3), tmp_path / "m", classes=["Baroque", "Pop_Art", "Ukiyo_e"], model_cfg=cfg)
    images = sorted(tiny_tree.rglob("*.jpg"))
    rows = [(p, p.parent.name, "test" if p.parent.name == "Baroque" and i % 10 < 2 else "train")
            for i, p in enumerate(images)]
    (tmp_path / "split.csv").write_text("path,label,split\n" + "".join(f"{p},{c},{s}\n" for p, c, s in rows))
    ref = add_drift_reference(tmp_path / "m", tmp_path / "split.csv", limit=100, device="cpu")
    assert ref["n"] == sum(s == "train" for *_, s in rows) == 28
    assert ref["class_shares"] == {"Baroque": 1.0} and ref["class_shares_split"] == "test"
    assert read_bundle_meta(tmp_path / "m")["drift_reference"]["n"] == 28
    (tmp_path / "empty.csv").write_text("path,label\n")
    with pytest.raises(ArtlensError, match="empty.csv"):
        add_drift_reference(tmp_path / "m", tmp_path / "empty.csv")


def test_a_reference_of_embeddings_beyond_float16_keeps_its_sample_finite_and_still_judges_drift():
    """An unnormalised network's features can exceed float16's 65504: its sample is kept in float32."""
    from artlens.ops import drift_reference, drift_score

    rng = np.random.default_rng(0)
    big = rng.normal(0, 1, (80, 8)).astype(np.float32) * 1e5
    reference = drift_reference(big, seed=0)
    assert reference["sample_dtype"] == "float32"
    same = drift_score(reference, rng.normal(0, 1, (40, 8)).astype(np.float32) * 1e5)
    moved = drift_score(reference, rng.normal(3, 1, (40, 8)).astype(np.float32) * 1e5)
    assert same["auc"] is not None and not same["drift"] and moved["drift"] and moved["auc"] > 0.95
    overflowed = {**reference, "sample": base64.b64encode(np.full((64, 8), np.inf, np.float16).tobytes()).decode()}
    del overflowed["sample_dtype"]  # as such a reference was written before: float16, infinite
    assert drift_score(overflowed, rng.normal(0, 1, (40, 8)).astype(np.float32) * 1e5)["decided_by"] == "shift"
    small = drift_reference(big / 1e5, seed=0)
    assert "sample_dtype" not in small  # float16, as references have always been stored
    assert not drift_score(small, rng.normal(0, 1, (40, 8)).astype(np.float32))["drift"]


def test_recorded_embeddings_beyond_float16_come_back_as_they_were(database):
    from artlens.ops import iter_embeddings

    store = open_store(database)
    usual = np.linspace(-3, 3, 8, dtype=np.float32)
    huge = usual * 1e5  # an unnormalised network's features
    record(store, "usual", model="styles@1", label="Baroque", when=datetime(2026, 11, 2), embedding=usual)
    record(store, "huge", model="styles@1", label="Baroque", when=datetime(2026, 11, 2), embedding=huge)
    rows = sorted(store.prediction_rows(with_embeddings=True), key=lambda r: r["request_id"], reverse=True)
    store.close()
    back = list(iter_embeddings(rows, dims=8))
    assert len(rows[0]["embedding"]) == 16 and len(rows[1]["embedding"]) == 32  # float16, then float32
    np.testing.assert_allclose(back[0], usual, rtol=1e-3)
    np.testing.assert_array_equal(back[1], huge)
