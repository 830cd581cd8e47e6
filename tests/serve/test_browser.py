"""The page in a real browser: Debian's Chromium, headless, against the server on loopback.

Each test drives what a visitor does: the empty page (example paintings, what the model knows), a
painting classified and explained (legend, opacity, the original beside the map, method and class
chosen by clicking a bar, download), a new or failed upload starting from a clean page, an uncertain
answer, several images with a CSV, the phone layout, the style tab (preset gallery, several styles,
balance, a Gatys job's queue position, cancel, download, a reload) and the API docs offline.
Waits are on elements, never sleeps, and every wait is bounded.

The screenshot the README shows (``docs/img/web.png``) is this file's: ``make screenshot`` sets
``ARTLENS_SCREENSHOT`` to copy it there (otherwise it stays in pytest's tmp folder so a test run never
edits tracked files). Without ``/usr/bin/chromium`` the tests fail on CI (``CI=true``) and are
skipped elsewhere (``make browser`` installs it).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from PIL import Image
from playwright.sync_api import Page, expect

from artlens.serve import ServeConfig, create_app

from .conftest import SEURAT

CHROMIUM = Path("/usr/bin/chromium")
WAIT = 60_000  # ms: the longest any single step may take on a slow CI machine
OTHERS = ["aic_periods/renaissance_baroque/100342.jpg", "aic_periods/golden_age_1880s/100026.jpg"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on 127.0.0.1 and a free port, as ``artlens serve`` runs it; yields its URL."""
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(models_dir):
    """``artlens serve`` in a thread on 127.0.0.1 and a free port."""
    with serving(create_app(ServeConfig(models_dir=str(models_dir), device="cpu"))) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install Debian's chromium (`make browser`) to run the browser test"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses its sandbox as root
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        yield b
        b.close()


class Visit:
    """A page plus what went wrong on it: script errors, failed requests, requests to anywhere else."""

    def __init__(self, browser, server: str, **options) -> None:
        self.server = server
        self.context = browser.new_context(accept_downloads=True, **options)
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda err: self.problems.append(f"script error: {err}"))
        self.page.on("requestfailed", lambda req: self.problems.append(f"failed: {req.url} {req.failure}"))
        self.page.on("request", self._request)

    def _request(self, req) -> None:
        if not req.url.startswith((self.server, "blob:", "data:")):
            self.problems.append(f"left the server: {req.url}")  # the page must work offline: no CDN

    def open(self) -> Page:
        self.page.goto(self.server)
        expect(self.page.locator("#model option").first).to_be_attached(timeout=WAIT)
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, server):
    opened: list[Visit] = []

    def make(**options) -> Visit:
        opened.append(Visit(browser, server, **options))
        return opened[-1]

    yield make
    for v in opened:
        v.close()


def classify(page: Page, *paths: Path) -> None:
    page.set_input_files("#file", [str(p) for p in paths])
    expect(page.locator("#results li").first).to_be_visible(timeout=WAIT)


def downloaded(page: Page, selector: str) -> tuple[str, bytes]:
    with page.expect_download(timeout=WAIT) as info:
        page.click(selector)
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def set_range(page: Page, selector: str, value: float) -> None:
    page.eval_on_selector(selector, "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }",
                          str(value))


def png_bytes(size=(64, 48), colour=(200, 120, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


# ---- the empty page ----------------------------------------------------------------------------------

def test_the_empty_page_offers_examples_and_says_what_the_model_knows(server, visit):
    listed = httpx.get(f"{server}/v1/examples").json()["examples"]
    assert listed, "the package ships example paintings"
    v = visit(viewport={"width": 1180, "height": 760})
    page = v.open()
    thumbs = page.locator("#example-list .thumb")
    expect(thumbs).to_have_count(len(listed))
    for i in range(len(listed)):  # every thumbnail is a real image from this server
        expect(thumbs.nth(i).locator("img")).to_have_js_property("complete", True, timeout=WAIT)
        assert thumbs.nth(i).locator("img").evaluate("img => img.naturalWidth") > 0

    # What the model knows, in words: its classes, what it learnt from, how often it is right.
    about = page.locator("#about")
    expect(about).to_contain_text("Pointillism")
    expect(about).to_contain_text("Ukiyo-e")
    expect(page.locator("#about-trained")).to_contain_text(re.compile(r"times in 10"))
    text = about.inner_text()
    assert "20261122" not in text and "wikiart11-style@" not in text, text  # no version stamp ...
    assert not re.search(r"\d\.\d+ *%|accuracy", text), text  # ... and no "66.4% test"
    assert "(default)" in page.locator("#model option:checked").inner_text()
    assert not re.search(r"v\d{8}", page.locator("#model").inner_text())  # no version stamps in the menu
    page.select_option("#model", "tiny-styles@2")
    expect(about).to_contain_text("Pop Art")
    expect(page.locator("#about-trained")).to_contain_text("times in 10")
    page.select_option("#model", index=0)

    # Nothing to explain yet, no error, no prediction.
    assert page.locator("#heatmap").is_hidden()
    assert page.locator("#classify-error").is_hidden()
    expect(page.locator("#empty-result")).to_be_visible()
    assert page.locator("#csv").is_hidden()  # nothing to download yet

    # Clicking an example classifies it.
    seurat = next(i for i, e in enumerate(listed) if "seurat" in e["name"])
    thumbs.nth(seurat).click()
    expect(page.locator("#results li").first).to_have_attribute("data-label", "Pointillism", timeout=WAIT)
    expect(thumbs.nth(seurat)).to_have_attribute("aria-pressed", "true")

    # Every control has a name a screen reader can say; results are announced (aria-live).
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input, select, button, progress, output')]
        .filter((el) => !((el.labels && [...el.labels].some((l) => l.textContent.trim()))
                          || el.getAttribute('aria-label') || el.textContent.trim()))
        .map((el) => el.id || el.outerHTML.slice(0, 80))""")
    assert not unnamed, unnamed
    for region in ("#result-box", "#status", "#cam-note", "#job-status"):
        assert page.get_attribute(region, "aria-live") == "polite", region
    assert page.get_attribute("#classify-error", "role") == "alert"

    # A favicon, served here.
    icon = page.locator("link[rel=icon]").get_attribute("href")
    answer = httpx.get(f"{server}{icon}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    assert not v.problems, v.problems


# ---- classify and explain -----------------------------------------------------------------------------

def test_a_painting_is_classified_and_explained_in_the_browser(server, visit, artdata, tmp_path):
    painting = artdata / SEURAT
    expected = httpx.post(f"{server}/v1/predict", files={"file": painting.open("rb")}, data={"top_k": "5"},
                          timeout=60).json()
    labels = [p["label"] for p in expected["predictions"]]
    assert labels[0] == "Pointillism"

    v = visit(viewport={"width": 1180, "height": 760})
    page = v.open()
    expect(page.locator("#model option")).to_have_count(3)
    classify(page, painting)
    first = page.locator("#results li").first
    expect(first).to_have_attribute("data-label", "Pointillism")
    assert first.locator(".label").inner_text() == "Pointillism"
    expect(page.locator("#results li")).to_have_count(5)  # the page asks for the top 5
    assert page.is_visible("#preview")
    expect(page.locator("#status")).to_contain_text("answered by wikiart11-style")

    # The heatmap: the original beside it, a legend, the predicted class by default.
    page.check("#cam")
    expect(page.locator("#cam-note")).to_have_text(re.compile(r"^Heatmap for Pointillism \(\d"), timeout=WAIT)
    expect(page.locator("#cam-view")).to_be_visible()
    assert page.get_attribute("#cam-overlay", "src").startswith("blob:")
    assert page.get_attribute("#cam-original", "src") == page.get_attribute("#preview", "src")
    expect(page.locator("#cam-original")).to_be_visible()
    legend = page.locator(".legend")
    expect(legend).to_be_visible()
    expect(legend).to_contain_text("low")
    expect(legend).to_contain_text("high")
    expect(page.locator("#results li").first.locator("button")).to_have_attribute("aria-pressed", "true")
    original, heat = page.locator("#cam-original").bounding_box(), page.locator("#cam-overlay").bounding_box()
    assert heat["x"] > original["x"] + original["width"] - 1  # side by side on a wide screen
    expect(page.locator("#cam-overlay")).to_have_js_property("complete", True)
    page.screenshot(path=str(tmp_path / "web.png"), full_page=True)  # the README's picture

    # Opacity: the map fades into the original under it.
    set_range(page, "#cam-opacity", 0.3)
    expect(page.locator("#cam-opacity-value")).to_have_text("30%")
    assert page.eval_on_selector("#cam-overlay", "el => getComputedStyle(el).opacity") == "0.3"

    # Click another class's bar: its map.
    second = page.locator("#results li").nth(1)
    second.locator("button").click()
    expect(page.locator("#cam-note")).to_have_text(re.compile(rf"^Heatmap for {re.escape(labels[1].replace('_', ' '))} "),
                                                   timeout=WAIT)
    expect(second.locator("button")).to_have_attribute("aria-pressed", "true")
    expect(first.locator("button")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#cam-class")).to_have_value(labels[1])
    expect(page.locator("#cam-note")).to_contain_text("the model's own answer is Pointillism")

    # Choose the method: the fast ones answer at once, the slow ones are marked.
    methods = page.locator("#cam-method option")
    assert "gradcam" in methods.evaluate_all("os => os.map(o => o.value)")
    expect(page.locator("#cam-method option[value=scorecam]")).to_have_text(re.compile(r"\(slow\)$"))
    page.select_option("#cam-method", "gradcam++")
    expect(page.locator("#cam-caption")).to_have_text(re.compile(r"Grad-CAM\+\+$"), timeout=WAIT)

    # Download the heatmap shown.
    name, data = downloaded(page, "#cam-download")
    assert name.endswith(".png") and "heatmap" in name and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert not v.problems, v.problems

    assert (tmp_path / "web.png").stat().st_size > 20_000
    if target := os.environ.get("ARTLENS_SCREENSHOT"):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "web.png", target)


def test_a_slow_heatmap_method_runs_as_a_job(visit, artdata):
    v = visit(viewport={"width": 1180, "height": 760})
    page = v.open()
    answers: list[tuple[str, int]] = []
    page.on("response", lambda r: answers.append((r.request.method + " " + r.url.split("/v1/")[-1], r.status)))
    page.select_option("#model", "tiny-styles@2")  # a tiny CNN: Score-CAM takes a moment, not a minute
    classify(page, artdata / SEURAT)
    expect(page.locator("#status")).to_contain_text("tiny-styles")
    page.select_option("#cam-method", "scorecam")
    page.locator("#results li").nth(1).locator("button").click()
    label = page.locator("#results li").nth(1).get_attribute("data-label")
    expect(page.locator("#cam-note")).to_have_text(re.compile(rf"^Heatmap for {re.escape(label.replace('_', ' '))} "),
                                                   timeout=WAIT)
    expect(page.locator("#cam-caption")).to_have_text(re.compile("Score-CAM$"))
    assert ("POST explain", 202) in answers  # queued as a job, polled, its result fetched
    assert any(a.startswith("GET jobs/") and a.endswith("/result") and code == 200 for a, code in answers), answers
    assert page.get_attribute("#cam-overlay", "src").startswith("blob:")
    assert not v.problems, v.problems


def test_a_new_or_failed_upload_starts_from_a_clean_page(visit, artdata, tmp_path):
    broken = tmp_path / "not-a-painting.jpg"
    broken.write_text("this is text, not a JPEG")
    v = visit(viewport={"width": 1180, "height": 760})
    page = v.open()
    empty_status = page.locator("#status").bounding_box()["height"]
    classify(page, artdata / SEURAT)
    expect(page.locator("#status")).to_contain_text("answered")
    assert page.locator("#status").bounding_box()["height"] == empty_status  # the note's line was kept for it
    page.check("#cam")
    note = page.locator("#cam-note")
    expect(note).to_have_text(re.compile("^Heatmap for"), timeout=WAIT)
    filled_note = note.bounding_box()["height"]

    # A failed upload: the old prediction, heatmap and note go, the reason shows.
    page.set_input_files("#file", str(broken))
    error = page.locator("#classify-error")
    expect(error).to_be_visible(timeout=WAIT)
    expect(error).to_contain_text("not-a-painting.jpg")
    expect(page.locator("#results li")).to_have_count(0)
    expect(page.locator("#uncertain")).to_be_hidden()
    assert page.locator("#cam-view").is_hidden() and page.locator("#cam-download").is_hidden()
    assert note.inner_text() == ""
    expect(page.locator("#preview")).to_be_hidden()

    # The error belongs to its tab.
    page.click("#tab-style")
    expect(page.locator("#panel-style")).to_be_visible()
    assert error.is_hidden() and page.locator("#style-error").is_hidden()
    page.click("#tab-classify")
    expect(error).to_be_visible()

    # A new upload clears the error and shows the new answer; the note keeps its place.
    classify(page, artdata / OTHERS[0])
    expect(error).to_be_hidden()
    expect(note).to_have_text(re.compile("^Heatmap for"), timeout=WAIT)
    assert note.bounding_box()["height"] == filled_note
    page.eval_on_selector("#cam-note", "el => { el.textContent = ''; }")
    assert note.bounding_box()["height"] == filled_note  # empty or not, the line is there: nothing jumps
    problems = [p for p in v.problems if "script error" in p or "left the server" in p]
    assert not problems, problems


def test_an_uncertain_answer_says_so_and_shows_three_guesses(server, visit, artdata):
    answer = httpx.post(f"{server}/v1/predict", files={"file": (artdata / SEURAT).open("rb")}, data={"top_k": "3"},
                        timeout=60).json()
    answer["uncertain"] = True  # the bundle's calibration decides; here the server's answer is made unsure
    v = visit(viewport={"width": 1180, "height": 760})
    page = v.open()

    def unsure(route):
        route.fulfill(status=200, headers={"Content-Type": "application/json"}, body=json.dumps(answer))

    page.route("**/v1/predict", unsure)
    page.fill("#topk", "1")
    page.dispatch_event("#topk", "change")
    classify(page, artdata / SEURAT)
    expect(page.locator("#uncertain")).to_be_visible()
    expect(page.locator("#uncertain")).to_contain_text(re.compile(r"^Uncertain: .* Pointillism, \w"))
    expect(page.locator("#results li")).to_have_count(3)  # three guesses although the page asked for one
    assert not v.problems, v.problems


def test_several_images_give_a_table_and_a_csv(visit, artdata, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    paintings = [artdata / SEURAT] + [artdata / p for p in OTHERS]
    v = visit(viewport={"width": 1180, "height": 900})
    page = v.open()
    page.set_input_files("#file", [str(p) for p in paintings] + [str(broken)])
    rows = page.locator("#batch-table tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#batch-title")).to_have_text("All 4 images", timeout=WAIT)
    expect(rows.nth(0).locator(".label")).to_have_text("Pointillism")
    expect(rows.nth(3).locator(".label")).to_have_text("failed")
    expect(page.locator("#classify-error")).to_contain_text("1 of 4 images could not be classified")

    # A row shows that image and its answer.
    rows.nth(1).locator("button").click()
    expect(rows.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator("#status")).to_contain_text(f"{paintings[1].name} (2 of 4)")
    top = rows.nth(1).locator(".label").inner_text().replace(" (uncertain)", "")
    expect(page.locator("#results li .label").first).to_have_text(top)

    name, data = downloaded(page, "#csv")
    assert name.endswith(".csv")
    table = list(csv.DictReader(io.StringIO(data.decode())))
    assert [r["file"] for r in table] == [p.name for p in paintings] + ["broken.png"]
    assert table[0]["label_1"] == "Pointillism" and 0.5 < float(table[0]["prob_1"]) <= 1
    assert all(r["model"].startswith("wikiart11-style@") for r in table)
    assert {"uncertain", "label_5", "prob_5", "error"} <= set(table[0])
    assert table[3]["error"] and not table[3]["label_1"]
    assert not [p for p in v.problems if "script error" in p or "left the server" in p], v.problems


def test_the_page_fits_a_phone_screen(visit, artdata, tmp_path):
    v = visit(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = v.open()
    width = "document.documentElement.scrollWidth"
    assert page.evaluate(width) <= 390  # no sideways scrolling, even before anything is loaded
    menu = page.locator("#model").bounding_box()
    assert menu["x"] >= 0 and menu["x"] + menu["width"] <= 390
    expect(page.locator("#example-list .thumb").first).to_be_in_viewport()  # an empty page offers examples at once
    classify(page, artdata / SEURAT)
    page.check("#cam")
    expect(page.locator("#cam-note")).to_have_text(re.compile("^Heatmap for"), timeout=WAIT)
    assert page.evaluate(width) <= 390
    drop, results = page.locator("#drop").bounding_box(), page.locator("#results").bounding_box()
    assert results["y"] >= drop["y"] + drop["height"] - 1  # stacked, not squeezed side by side
    examples = page.locator("#examples").bounding_box()
    assert examples["y"] > results["y"]  # the answer comes right under the picture, the examples after it
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    page.click("#tab-style")
    expect(page.locator("#style-gallery .thumb").first).to_be_visible()
    assert page.evaluate(width) <= 390
    method = page.locator("#method").bounding_box()
    assert method["x"] + method["width"] <= 390
    assert not v.problems, v.problems


# ---- style -------------------------------------------------------------------------------------------

def test_styles_are_picked_from_a_gallery_and_a_queued_job_shows_its_place_and_can_be_cancelled(server, visit, artdata):
    content = sorted((artdata / "style_refs" / "content").iterdir())[0]
    presets = httpx.get(f"{server}/v1/styles").json()["styles"]
    assert presets and all(s["licence"] for s in presets)
    v = visit(viewport={"width": 1180, "height": 900})
    page = v.open()
    page.click("#tab-style")
    expect(page.locator("#size")).to_have_value("512")  # a larger default output
    gallery = page.locator("#style-gallery .thumb")
    expect(gallery).to_have_count(len(presets))
    expect(gallery.first).to_contain_text(presets[0]["artist"])

    # Several styles: previews, shares, a note that the server mixes them equally; remove one.
    for i in (0, 1, 2):
        gallery.nth(i).click()
    chosen = page.locator("#chosen-styles li")
    expect(chosen).to_have_count(3)
    expect(gallery.nth(1)).to_have_attribute("aria-pressed", "true")
    expect(chosen.first.locator("img")).to_have_js_property("complete", True)
    assert chosen.first.locator("img").evaluate("img => img.naturalWidth") > 0
    expect(chosen.first.locator("output")).to_have_text("33%")
    chosen.nth(2).locator(".remove").click()
    expect(chosen).to_have_count(2)
    expect(gallery.nth(2)).to_have_attribute("aria-pressed", "false")
    expect(chosen.first.locator("output")).to_have_text("50%")

    # AdaIN (the built-in decoder) is the default, with its balance slider; Gatys mixes styles equally.
    expect(page.locator("#method")).to_have_value("adain")
    expect(page.locator("#alpha-box")).to_be_visible()
    page.select_option("#method", "gatys")
    expect(page.locator("#weights-note")).to_contain_text("equal")
    expect(page.locator("#method-note")).to_contain_text("background job")
    expect(page.locator("#alpha-box")).to_be_hidden()

    # A job of someone else's runs first: ours waits, says its place, and can be cancelled.
    style = artdata / "style_refs" / "style" / "jcjohnson__starry_night.jpg"
    with content.open("rb") as c, style.open("rb") as s:
        blocker = httpx.post(f"{server}/v1/stylize", files=[("content", c), ("style", s)],
                             data={"method": "gatys", "steps": "500", "size": "384"}, timeout=60).json()["job"]
    try:
        page.set_input_files("#content", str(content))
        page.fill("#steps", "50")
        page.fill("#size", "96")
        page.click("#go")
        expect(page.locator("#job-progress")).to_be_visible(timeout=WAIT)
        expect(page.locator("#job-status")).to_contain_text(re.compile(r"next in line|number \d+ in the queue"))
        job_id = page.evaluate("localStorage.getItem('artlens.job')")
        assert httpx.get(f"{server}/v1/jobs/{job_id}").json()["state"] == "queued"
        page.click("#cancel")
        expect(page.locator("#job-status")).to_have_text("Cancelled.", timeout=WAIT)
        expect(page.locator("#job")).to_be_hidden()
        assert httpx.get(f"{server}/v1/jobs/{job_id}").json()["state"] == "cancelled"
        assert page.evaluate("localStorage.getItem('artlens.job')") is None
        expect(page.locator("#go")).to_be_enabled()
    finally:
        httpx.delete(f"{server}/v1/jobs/{blocker['id']}")
    assert not v.problems, v.problems


def test_a_style_job_survives_a_page_reload_and_its_result_downloads(server, visit, artdata):
    content = sorted((artdata / "style_refs" / "content").iterdir())[0]
    style = sorted((artdata / "style_refs" / "style").iterdir())[0]
    v = visit()
    page = v.open()
    page.click("#tab-style")
    expect(page.locator("#method")).to_have_value("adain")  # the built-in decoder: AdaIN is the default
    page.select_option("#method", "gatys")
    page.fill("#steps", "200")
    page.fill("#size", "96")
    page.set_input_files("#content", str(content))
    page.set_input_files("#style", str(style))  # a style image of one's own
    expect(page.locator("#chosen-styles li")).to_have_count(1)
    page.click("#go")
    expect(page.locator("#job-progress")).to_be_visible(timeout=WAIT)  # 202 received, job id stored
    expect(page.locator("#cancel")).to_be_visible()
    job_id = page.evaluate("localStorage.getItem('artlens.job')")
    assert httpx.get(f"{server}/v1/jobs/{job_id}").json()["state"] in ("queued", "running")
    page.wait_for_function("[...document.images].filter((i) => i.offsetParent).every((i) => i.complete)", timeout=WAIT)
    page.reload()  # the page forgets everything but the job id in localStorage
    expect(page.locator("#stylized")).to_be_visible(timeout=120_000)
    assert page.is_visible("#panel-style")
    assert page.evaluate("localStorage.getItem('artlens.job')") is None
    assert httpx.get(f"{server}/v1/jobs/{job_id}").json()["state"] == "done"
    expect(page.locator("#job-status")).to_contain_text("Done in")
    name, data = downloaded(page, "#style-download")
    assert name.endswith(".png") and data[:8] == b"\x89PNG\r\n\x1a\n"
    assert not v.problems, v.problems


def test_the_built_in_decoder_paints_with_adain_at_once(server, visit, artdata):
    """No stand-ins: the server stylises with the decoder shipped in the package."""
    v = visit()
    page = v.open()
    page.click("#tab-style")
    expect(page.locator("#method")).to_have_value("adain")
    expect(page.locator("#method option[value=adain]")).not_to_have_text(re.compile("not installed$"))
    expect(page.locator("#alpha-box")).to_be_visible()
    set_range(page, "#alpha", 0.6)
    page.fill("#size", "128")
    page.set_input_files("#content", str(artdata / "style_refs" / "content" / "jcjohnson__tubingen.jpg"))
    page.locator("#style-gallery .thumb").nth(0).click()
    page.click("#go")
    expect(page.locator("#stylized")).to_be_visible(timeout=WAIT)
    expect(page.locator("#job-status")).to_contain_text("Done in")
    name, data = downloaded(page, "#style-download")
    with Image.open(io.BytesIO(data)) as img:
        assert name.endswith(".png") and max(img.size) == 128  # the longer side at the size asked
    assert not v.problems, v.problems


def test_adain_sends_the_balance_and_offers_gatys_when_the_server_has_no_decoder(visit, artdata):
    """The server's answers are stood in for (weights allowed, then no decoder), the page is real."""
    v = visit(viewport={"width": 1180, "height": 900})
    page = v.page

    def with_adain(route):
        answer = route.fetch()
        body = answer.json()
        body["features"]["stylize"]["adain"] = {"available": True, "decoders": ["test"]}
        route.fulfill(response=answer, body=json.dumps(body))

    sent: list[bytes] = []

    def adain(route):
        sent.append(route.request.post_data_buffer)
        if len(sent) == 1:
            route.fulfill(status=200, body=png_bytes(), headers={"Content-Type": "image/png", "X-Latency-Ms": "1234.5"})
        else:
            route.fulfill(status=503, headers={"Content-Type": "application/json"},
                          body=json.dumps({"error": "no AdaIN decoder installed: put a decoder folder in --models DIR",
                                           "status": 503, "request_id": "x"}))

    page.route("**/v1/models", with_adain)
    page.route("**/v1/stylize", adain)
    v.open()
    page.click("#tab-style")
    expect(page.locator("#method")).to_have_value("adain")
    expect(page.locator("#alpha-box")).to_be_visible()
    expect(page.get_by_label("Balance")).to_be_visible()
    set_range(page, "#alpha", 0.4)
    expect(page.locator("#alpha-value")).to_have_text("40%")
    expect(page.locator("#alpha")).to_have_attribute("aria-valuetext", "40% style, 60% content")
    page.set_input_files("#content", str(sorted((artdata / "style_refs" / "content").iterdir())[0]))
    page.locator("#style-gallery .thumb").nth(0).click()
    page.locator("#style-gallery .thumb").nth(1).click()
    weights = page.get_by_label("Weight")
    expect(weights).to_have_count(2)
    set_range(page, "#weight-0", 2)
    expect(page.locator("#chosen-styles output").first).to_have_text("67%")
    expect(page.locator("#chosen-styles output").nth(1)).to_have_text("33%")
    page.click("#go")
    expect(page.locator("#stylized")).to_be_visible(timeout=WAIT)
    expect(page.locator("#job-status")).to_have_text("Done in 1.2 s.")
    body = sent[0]
    assert b'name="method"\r\n\r\nadain' in body and b'name="alpha"\r\n\r\n0.4' in body
    assert b'name="size"\r\n\r\n512' in body and body.count(b'name="style"') == 2
    assert b'name="style_weights"\r\n\r\n2,1\r\n' in body  # one weight per style, as the schema says
    name, data = downloaded(page, "#style-download")
    assert data == png_bytes() and name.endswith(".png")

    # The decoder went away: the error says so in this tab only, and Gatys is one click away.
    page.click("#go")
    expect(page.locator("#style-error")).to_contain_text("no AdaIN decoder", timeout=WAIT)
    expect(page.locator("#use-gatys")).to_be_visible()
    page.click("#use-gatys")
    expect(page.locator("#method")).to_have_value("gatys")
    expect(page.locator("#steps-box")).to_be_visible()
    expect(page.get_by_label("Weight")).to_have_count(0)  # Gatys weighs the styles equally
    expect(page.locator("#weights-note")).to_contain_text("equal parts")
    page.click("#tab-classify")
    assert page.locator("#classify-error").is_hidden() and page.locator("#style-error").is_hidden()
    assert not v.problems, v.problems


def test_the_api_docs_render_offline(server, browser):
    page = browser.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda req: failed.append(req.url))
    page.goto(f"{server}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("artlens", timeout=30_000)
    expect(page.locator(".opblock-summary-path", has_text="/v1/predict")).to_have_count(1)
    assert not failed, failed  # Swagger UI's scripts come from the server, not a CDN
    page.close()


def test_the_human_or_ai_tab_judges_dropped_images(visit, artdata):
    """The third tab: two images judged by the built-in detector, each with a verdict and a bar, the
    detector's limits beside them; the other tabs hide while it shows."""
    v = visit()
    page = v.open()
    page.click("#tab-detect")
    expect(page.locator("#panel-detect")).to_be_visible()
    assert page.locator("#panel-classify").is_hidden() and page.locator("#panel-style").is_hidden()
    images = [artdata / "cezanne_ai_vs_human/ai_sd15_cezanne_guidance8/valid__15.jpg",
              artdata / "cezanne_ai_vs_human/human_cezanne_original/valid__0.jpg"]
    page.set_input_files("#detect-file", [str(p) for p in images])
    expect(page.locator("#detect-results .verdict")).to_have_count(2, timeout=WAIT)
    for text in page.locator("#detect-results .verdict").all_inner_texts():
        assert text in ("AI", "Human")
    expect(page.locator("#detect-results .p-ai")).to_have_count(2)
    expect(page.locator("#detect-drop .again")).to_be_visible()  # the emptied drop zone says what it is for
    expect(page.locator("#privacy")).to_have_text("Images are checked by decoding, processed in memory and never stored.")
    expect(page.locator("#detect-notes")).to_contain_text("grayscale")
    assert page.locator("#detect-error").is_hidden()
    page.click("#tab-classify")
    expect(page.locator("#panel-detect")).to_be_hidden()
    assert [p for p in v.problems if "script error" in p or "left the server" in p] == []


def test_cyclegan_is_a_style_method_that_needs_no_style_image(visit, artdata):
    """With a CycleGAN bundle installed (the server's answer stood in for), the Style tab offers it and
    sends the photo alone."""
    v = visit(viewport={"width": 1180, "height": 900})
    page = v.page

    def with_cyclegan(route):
        answer = route.fetch()
        body = answer.json()
        body["features"]["stylize"]["cyclegan"] = {"available": True, "models": ["photo2monet"],
                                                   "directions": ["a2b", "b2a"]}
        route.fulfill(response=answer, body=json.dumps(body))

    sent: list[bytes] = []

    def cyclegan(route):
        sent.append(route.request.post_data_buffer)
        route.fulfill(status=200, body=png_bytes(), headers={"Content-Type": "image/png", "X-Latency-Ms": "800"})

    page.route("**/v1/models", with_cyclegan)
    page.route("**/v1/stylize", cyclegan)
    v.open()
    page.click("#tab-style")
    expect(page.locator("#method option[value=cyclegan]")).not_to_have_text(re.compile("not installed$"))
    page.select_option("#method", "cyclegan")
    expect(page.locator("#method-note")).to_contain_text("no style image needed")
    expect(page.locator("#alpha-box")).to_be_hidden()
    page.set_input_files("#content", str(sorted((artdata / "style_refs" / "content").iterdir())[0]))
    page.click("#go")  # no style picked: fine for CycleGAN
    expect(page.locator("#stylized")).to_be_visible(timeout=WAIT)
    assert b'name="method"\r\n\r\ncyclegan' in sent[0] and b'name="style"' not in sent[0]
    assert not v.problems, v.problems
