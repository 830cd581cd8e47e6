"""Feedback through the real page (issue 36): a visitor classifies a painting, says the best guess
was wrong and picks the right label; the server files it under the request and the model that
answered, and it is read back from the database. Chromium as in :mod:`.test_browser`.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from artlens.ops import open_store
from artlens.serve import ServeConfig, create_app

from .conftest import SEURAT
from .test_browser import WAIT, Visit, browser, classify, serving  # noqa: F401 - browser is a fixture


@pytest.fixture(scope="module")
def recording_server(models_dir, tmp_path_factory):
    """``artlens serve --db ops.db`` on loopback (images not kept)."""
    db = str(tmp_path_factory.mktemp("ops") / "ops.db")
    with serving(create_app(ServeConfig(models_dir=str(models_dir), device="cpu", db=db))) as url:
        yield url, db


def test_a_visitor_corrects_a_prediction_and_it_is_stored(browser, recording_server, artdata):
    server, db = recording_server
    visit = Visit(browser, server)
    try:
        page = visit.open()
        classify(page, artdata / SEURAT)
        control = page.locator("#feedback")
        expect(control).to_be_visible(timeout=WAIT)
        expect(control).to_contain_text("keeps a fingerprint of each image")  # no --store-uploads: the page says so
        expect(page.locator("#privacy")).to_contain_text("never stored; a fingerprint of each")
        best = page.locator("#results li").first.get_attribute("data-label")
        choice = "Baroque" if best != "Baroque" else "Rococo"
        expect(page.locator("#feedback-send")).to_be_disabled()
        page.select_option("#feedback-label", choice)
        page.click("#feedback-send")
        expect(control).to_contain_text(f"recorded as {choice}", timeout=WAIT)
        assert visit.problems == []
    finally:
        visit.close()
    store = open_store(db)
    rows = store.feedback_rows()
    store.close()
    assert [(r["label"], r["predicted"], r["correct"]) for r in rows] == [(choice, best, False)]
    assert rows[0]["model_id"].startswith("wikiart11-style@")


def test_a_visitor_confirms_a_prediction(browser, recording_server, artdata):
    server, db = recording_server
    visit = Visit(browser, server)
    try:
        page = visit.open()
        classify(page, artdata / "aic_periods/renaissance_baroque/100342.jpg")
        page.click("#feedback-right", timeout=WAIT)
        expect(page.locator("#feedback")).to_contain_text("recorded as right", timeout=WAIT)
        assert visit.problems == []
    finally:
        visit.close()
    store = open_store(db)
    assert [r["correct"] for r in store.feedback_rows()][-1] is True
    store.close()


def test_a_visitor_says_a_detectors_verdict_was_wrong(browser, recording_server, artdata):
    """The Human-or-AI tab: each verdict has "Right" and "Wrong" buttons; "Wrong" files the other label
    under the built-in detector, and the page says what the server keeps."""
    server, db = recording_server
    visit = Visit(browser, server)
    try:
        page = visit.open()
        page.click("#tab-detect")
        page.set_input_files("#detect-file", str(artdata / "cezanne_ai_vs_human/human_cezanne_original/valid__0.jpg"))
        row = page.locator("#detect-results .detect-feedback")
        expect(row).to_have_count(1, timeout=WAIT)
        expect(page.locator("#detect-privacy")).to_contain_text("keeps a fingerprint of each image")
        said = page.locator("#detect-results .verdict").inner_text()
        other = "ai" if said == "Human" else "human"
        row.locator("button", has_text="Wrong").click()
        expect(row).to_contain_text(f"recorded as {'AI' if other == 'ai' else 'Human'}", timeout=WAIT)
        assert visit.problems == []
    finally:
        visit.close()
    store = open_store(db)
    last = store.feedback_rows()[-1]
    store.close()
    assert (last["label"], last["correct"]) == (other, False)
    assert last["model_id"].startswith("cezanne-ai-detector@")


def test_a_server_that_keeps_images_says_so_at_the_foot_of_the_page(browser, models_dir, tmp_path):
    """``--store-uploads``: the footer no longer says images are never stored."""
    app = create_app(ServeConfig(models_dir=str(models_dir), device="cpu", db=str(tmp_path / "ops.db"),
                                 store_uploads=str(tmp_path / "uploads")))
    with serving(app) as server:
        visit = Visit(browser, server)
        try:
            page = visit.open()
            expect(page.locator("#privacy")).to_contain_text("This server keeps the images it classifies", timeout=WAIT)
            assert "never stored" not in page.locator("#privacy").inner_text()
        finally:
            visit.close()
