"""The page of ``context-encoder serve`` in real headless Chromium (Playwright driving the system Chromium).

Open a large photo (shown scaled), paint a stroke, undo / redo it, press Inpaint, download the PNG:
it is the photo at full size with only the painted pixels changed. Then paint again on the result
and see an API error shown as a readable message. CE_SERVE_SCREENSHOT=PATH keeps a screenshot.

Chromium is ``$CE_CHROMIUM``, else ``chromium`` on the PATH, else /usr/bin/chromium (Debian's
``apt-get install chromium``). Without it this test is skipped with that reason, unless CI=true or
CE_BROWSER=1: then it fails, so that CI never loses it silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from serve_helpers import running_server

CHROMIUM = os.environ.get("CE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
REQUIRED = any(os.environ.get(name, "").lower() not in ("", "0", "false") for name in ("CI", "CE_BROWSER"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
W, H = 1800, 1200  # wider than the page: shown scaled, filled at full size
BRUSH = 30  # screen px, the page's size slider

if REQUIRED:  # .ci/run installs both: there this test runs, never skips
    from playwright import sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' installs playwright")
if not os.access(CHROMIUM, os.X_OK):
    _missing = (f"Chromium not found at {CHROMIUM}: the browser test needs it (apt-get install chromium, "
                "or CE_CHROMIUM=/path/to/chromium)")
    if REQUIRED:
        pytest.fail(f"{_missing}; CI=true or CE_BROWSER=1 requires this test to run", pytrace=False)
    pytest.skip(_missing, allow_module_level=True)


def landscape(h: int = H, w: int = W) -> np.ndarray:
    """A smooth synthetic photo (H, W, 3) uint8: sky, sun, two ranges of hills, a field."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sky = np.stack([120 + 80 * yy / h, 160 + 60 * yy / h, 235 - 20 * yy / h], -1)
    sun = ((xx - 0.75 * w) ** 2 + (yy - 0.22 * h) ** 2) < (0.06 * h) ** 2
    img = np.where(sun[..., None], np.array([255, 236, 170], np.float32), sky)
    far = yy > h * (0.50 + 0.06 * np.sin(xx / w * 7) + 0.03 * np.sin(xx / w * 23))
    img = np.where(far[..., None], np.stack([95 + 20 * np.sin(xx / 90), 120 + 0 * xx, 150 + 0 * xx], -1), img)
    near = yy > h * (0.64 + 0.05 * np.sin(xx / w * 5 + 1.3))
    field = np.stack([70 + 40 * (yy / h), 130 + 30 * np.sin(xx / 55) * (yy / h), 60 + 0 * xx], -1)
    img = np.where(near[..., None], field, img)
    return np.clip(img, 0, 255).astype(np.uint8)


def near_segment(p0: tuple[float, float], p1: tuple[float, float], radius: float) -> np.ndarray:
    """(H, W) bool: the pixels within ``radius`` of the segment p0-p1 (image coordinates)."""
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    (x0, y0), (x1, y1) = p0, p1
    t = np.clip(((xx - x0) * (x1 - x0) + (yy - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2), 0, 1)
    return (xx - x0 - t * (x1 - x0)) ** 2 + (yy - y0 - t * (y1 - y0)) ** 2 <= radius**2


def paint(page: sync_api.Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag the mouse over the mask canvas from ``start`` to ``end`` (fractions of its box)."""
    box = page.locator("#mask").bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"], steps=25)
    page.mouse.up()


def test_paint_inpaint_download_in_chromium(tmp_path: Path) -> None:
    photo = landscape()
    Image.fromarray(photo).save(tmp_path / "landscape.png")
    with running_server() as (url, _proc), sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        page.goto(url)
        sync_api.expect(page.locator("#model-info")).to_contain_text("center model, 128 px input")

        page.locator("#file").set_input_files(tmp_path / "landscape.png")
        sync_api.expect(page.locator("#status")).to_contain_text(f"{W}×{H} px")
        box = page.locator("#mask").bounding_box()
        assert box["width"] < W * 0.8  # shown scaled ...
        size = page.eval_on_selector("#mask", "el => [el.width, el.height]")
        assert size == [W, H]  # ... painted at full size
        sync_api.expect(page.locator("#inpaint")).to_be_disabled()  # nothing painted yet

        page.eval_on_selector("#size", "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", BRUSH)
        start, end = (0.30, 0.56), (0.62, 0.60)
        paint(page, start, end)
        sync_api.expect(page.locator("#inpaint")).to_be_enabled()
        page.click("#undo")
        sync_api.expect(page.locator("#inpaint")).to_be_disabled()
        page.click("#redo")
        sync_api.expect(page.locator("#inpaint")).to_be_enabled()

        page.click("#inpaint")
        sync_api.expect(page.locator("#inpaint")).to_be_disabled()  # working: no second submit
        page.locator("#inpaint").click(force=True, no_wait_after=True)
        sync_api.expect(page.locator("#download")).to_be_visible(timeout=60_000)
        assert posts == [f"{url}api/v1/inpaint"]
        sync_api.expect(page.locator("#compare-row")).to_be_visible()
        sync_api.expect(page.locator("#error")).to_be_hidden()
        page.screenshot(path=tmp_path / "serve.png")
        with page.expect_download() as download:
            page.click("#download")
        assert download.value.suggested_filename == "landscape-inpainted.png"
        result = Image.open(download.value.path())
        assert result.size == (W, H) and result.mode == "RGB"
        changed = (np.asarray(result) != photo).any(-1)

        # paint again on the result; an API error is shown as its message, the image kept
        page.route("**/api/v1/inpaint", lambda route: route.fulfill(
            status=429, json={"error": "the server is busy: 4 requests are already waiting"}))
        paint(page, (0.2, 0.3), (0.25, 0.35))
        page.click("#inpaint")
        sync_api.expect(page.locator("#error")).to_have_text("the server is busy: 4 requests are already waiting")
        sync_api.expect(page.locator("#inpaint")).to_be_enabled()
        browser.close()

    scale = W / box["width"]
    stroke = ((start[0] * W, start[1] * H), (end[0] * W, end[1] * H))
    painted = near_segment(*stroke, BRUSH / 2 * scale + 2)  # + antialiasing
    core = near_segment(*stroke, BRUSH / 2 * scale - 2)
    assert changed.any() and not changed[~painted].any()  # only the painted pixels changed
    assert changed[core].mean() > 0.5  # and the painted ones were filled
    if os.environ.get("CE_SERVE_SCREENSHOT"):
        shutil.copy(tmp_path / "serve.png", os.environ["CE_SERVE_SCREENSHOT"])
