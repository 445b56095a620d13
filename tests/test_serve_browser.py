"""The page of ``context-encoder serve`` in real headless Chromium (Playwright driving the system Chromium).

One server and one browser for the module. Open a large photo (shown scaled), paint, undo / redo,
Inpaint, download the PNG: it is the photo at full size with only the painted pixels changed; Ctrl+Z
takes the fill back. Zoom with the wheel around the pointer, pan with space + drag and the middle
button, size the brush in photo pixels with [ and ] (after touching the slider too). Load a mask
file (white = hole) and see the server's warning; refuse a truncated photo and a mask of the wrong
size with a message. Cancel a fill that does not come back. A phone-size viewport leaves most of the
screen to the photo. No test leaves an error in the console. CE_SERVE_SCREENSHOTS=DIR keeps the
screenshots (page.png, zoom.png, phone.png).

Chromium is ``$CE_CHROMIUM``, else ``chromium`` on the PATH, else /usr/bin/chromium (Debian's
``apt-get install chromium``). Without it this test is skipped with that reason, unless CI=true or
CE_BROWSER=1: then it fails, so that CI never loses it silently.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
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
BRUSH = 40  # photo px, the page's size slider
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

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
expect = sync_api.expect


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


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server() as (url, _served):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@contextmanager
def page_of(browser: sync_api.Browser, url: str, *, expected_errors: tuple[str, ...] = (),
            **context: object) -> Iterator[sync_api.Page]:
    """A fresh page on the server's page; on leaving, no error in its console but ``expected_errors``."""
    ctx = browser.new_context(accept_downloads=True, **context)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(f"uncaught: {err}"))
    page.goto(url)
    expect(page.locator("#model-info")).to_contain_text("center model, 128 px input")
    yield page
    ctx.close()
    assert [e for e in errors if not any(x in e for x in expected_errors)] == [], errors


def open_photo(page: sync_api.Page, path: Path, size: tuple[int, int]) -> None:
    page.locator("#file").set_input_files(path)
    expect(page.locator("#status")).to_contain_text(f"{size[0]}×{size[1]} px")


def paint(page: sync_api.Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag the mouse over the mask canvas from ``start`` to ``end`` (fractions of its box)."""
    box = page.locator("#mask").bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"], steps=25)
    page.mouse.up()


def set_size(page: sync_api.Page, px: int) -> None:
    page.eval_on_selector("#size", "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", px)


def scale(page: sync_api.Page) -> float:
    return float(page.get_attribute("#frame", "data-scale"))


def shown_image(page: sync_api.Page) -> bytes:
    """The bytes of the image the page shows (its object URL read back)."""
    return base64.b64decode(page.evaluate("""async () => {
        const bytes = new Uint8Array(await (await fetch(document.getElementById("after").src)).arrayBuffer());
        let s = "";
        for (let i = 0; i < bytes.length; i += 32768) s += String.fromCharCode(...bytes.subarray(i, i + 32768));
        return btoa(s);
    }"""))


def download(page: sync_api.Page, name: str) -> np.ndarray:
    with page.expect_download() as dl:
        page.click("#download")
    assert dl.value.suggested_filename == name
    return np.asarray(Image.open(dl.value.path()))


def pinch(page: sync_api.Page, mid: tuple[float, float], start: float, end: float) -> None:
    """Two fingers on either side of ``mid``, ``start`` px apart, move apart to ``end`` px (CDP touch events)."""
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, half: float) -> None:
        points = [{"x": mid[0] - half, "y": mid[1], "id": 0}, {"x": mid[0] + half, "y": mid[1], "id": 1}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [] if kind == "touchEnd" else points})

    touch("touchStart", start / 2)
    for step in range(1, 6):
        touch("touchMove", (start + (end - start) * step / 5) / 2)
    touch("touchEnd", end / 2)
    cdp.detach()


def keep_screenshot(page: sync_api.Page, name: str) -> None:
    if os.environ.get("CE_SERVE_SCREENSHOTS"):
        page.screenshot(path=Path(os.environ["CE_SERVE_SCREENSHOTS"]) / name)


def test_paint_inpaint_download_undo_the_fill(server: str, browser: sync_api.Browser, tmp_path: Path) -> None:
    photo = landscape()
    Image.fromarray(photo).save(tmp_path / "landscape.png")
    busy = "the server is busy: 4 requests are already waiting"
    with page_of(browser, server, viewport=DESKTOP, expected_errors=("status of 429",)) as page:
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        open_photo(page, tmp_path / "landscape.png", (W, H))
        box = page.locator("#mask").bounding_box()
        assert box["width"] < W * 0.8  # shown scaled ...
        assert page.eval_on_selector("#mask", "el => [el.width, el.height]") == [W, H]  # ... painted at full size
        expect(page.locator("#inpaint")).to_be_disabled()  # nothing painted yet

        set_size(page, BRUSH)
        start, end = (0.30, 0.56), (0.62, 0.60)
        paint(page, start, end)
        expect(page.locator("#inpaint")).to_be_enabled()
        page.click("#undo")
        expect(page.locator("#inpaint")).to_be_disabled()
        page.click("#redo")
        expect(page.locator("#inpaint")).to_be_enabled()

        page.click("#inpaint")
        expect(page.locator("#inpaint")).to_be_disabled()  # working: no second submit
        expect(page.locator("#elapsed")).to_have_text(re.compile(r"\d+\.\d s"))
        page.locator("#inpaint").click(force=True, no_wait_after=True)
        expect(page.locator("#download")).to_be_visible(timeout=60_000)
        assert posts == [f"{server}api/v1/inpaint"]
        expect(page.locator("#status")).to_contain_text("Filled in")
        expect(page.locator("#error")).to_be_hidden()
        expect(page.locator("#warning")).to_be_hidden()

        knob = page.locator("#divider .knob").bounding_box()  # the before/after divider drags on the image
        page.mouse.move(knob["x"] + knob["width"] / 2, knob["y"] + knob["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + 0.3 * box["width"], knob["y"], steps=5)
        page.mouse.up()
        assert abs(int(page.get_attribute("#divider", "aria-valuenow")) - 30) <= 1
        expect(page.locator("#inpaint")).to_be_disabled()  # dragging the divider painted nothing
        keep_screenshot(page, "page.png")
        changed = (download(page, "landscape-inpainted.png") != photo).any(-1)
        filled = shown_image(page)

        page.keyboard.press("Control+z")  # takes the fill back: the photo and its painted mask
        expect(page.locator("#download")).to_be_hidden()
        assert shown_image(page) == (tmp_path / "landscape.png").read_bytes()
        expect(page.locator("#inpaint")).to_be_enabled()
        page.keyboard.press("Control+Shift+z")
        expect(page.locator("#download")).to_be_visible()
        assert shown_image(page) == filled

        # paint again on the result; an API error is shown as its message, the image kept
        page.route("**/api/v1/inpaint", lambda route: route.fulfill(status=429, json={"error": busy}))
        paint(page, (0.2, 0.3), (0.25, 0.35))
        page.click("#inpaint")
        expect(page.locator("#error")).to_have_text(busy)
        expect(page.locator("#inpaint")).to_be_enabled()
        assert shown_image(page) == filled

    stroke = ((start[0] * W, start[1] * H), (end[0] * W, end[1] * H))
    painted = near_segment(*stroke, BRUSH / 2 + 2)  # + antialiasing
    core = near_segment(*stroke, BRUSH / 2 - 2)
    assert changed.any() and not changed[~painted].any()  # only the painted pixels changed
    assert changed[core].mean() > 0.5  # and the painted ones were filled


def test_zoom_pan_and_brush_keys(server: str, browser: sync_api.Browser, tmp_path: Path) -> None:
    w, h = 2560, 1707  # a camera's photo: about a third of its size on screen when fitted
    Image.fromarray(landscape(h, w)).save(tmp_path / "large.png")
    with page_of(browser, server, viewport=DESKTOP) as page:
        open_photo(page, tmp_path / "large.png", (w, h))
        fitted = scale(page)
        assert fitted < 0.5
        expect(page.locator("#zoom-value")).to_have_text(f"{round(fitted * 100)}%")

        page.click("#size")  # the slider keeps the focus; the keys still reach the page
        size = int(page.input_value("#size"))
        page.keyboard.press("]")
        assert int(page.input_value("#size")) > size
        page.keyboard.press("[")
        page.keyboard.press("[")
        assert int(page.input_value("#size")) < size
        set_size(page, 1)
        page.keyboard.press("[")
        expect(page.locator("#size-value")).to_have_text("1 px")  # one photo pixel, however far zoomed out
        stage = page.locator("#stage").bounding_box()
        x, y = stage["x"] + stage["width"] * 0.6, stage["y"] + stage["height"] * 0.4
        page.mouse.move(x, y)
        page.mouse.wheel(0, 100)  # Alt + wheel sizes the brush
        page.keyboard.down("Alt")
        page.mouse.wheel(0, -100)
        page.keyboard.up("Alt")
        expect(page.locator("#size-value")).to_have_text("2 px")

        def photo_point() -> tuple[float, float]:
            box = page.locator("#mask").bounding_box()
            return (x - box["x"]) / box["width"] * w, (y - box["y"]) / box["height"] * h

        before = photo_point()
        for _ in range(4):
            page.mouse.wheel(0, -200)  # zoom in around the pointer
        expect(page.locator("#frame")).not_to_have_attribute("data-scale", f"{fitted:.4f}")
        zoomed = scale(page)
        assert zoomed > 2 * fitted
        assert np.allclose(photo_point(), before, atol=2)  # the point under the pointer stays put

        box = page.locator("#mask").bounding_box()
        page.keyboard.down(" ")  # space + drag pans, paints nothing
        page.mouse.down()
        page.mouse.move(x - 100, y - 50, steps=5)
        page.mouse.up()
        page.keyboard.up(" ")
        moved = page.locator("#mask").bounding_box()
        assert (moved["x"] - box["x"], moved["y"] - box["y"]) == pytest.approx((-100, -50), abs=1)
        page.mouse.move(x, y)
        page.mouse.down(button="middle")  # and so does the middle button
        page.mouse.move(x + 40, y, steps=3)
        page.mouse.up(button="middle")
        assert page.locator("#mask").bounding_box()["x"] == pytest.approx(moved["x"] + 40, abs=1)
        expect(page.locator("#inpaint")).to_be_disabled()

        set_size(page, 8)  # a stroke 8 photo px wide, whatever the zoom
        page.mouse.move(x - 150, y)
        page.mouse.down()
        page.mouse.move(x + 150, y, steps=10)
        page.mouse.up()
        column = page.evaluate("""([x, y]) => {
            const c = document.getElementById("mask"), r = c.getBoundingClientRect();
            const px = Math.round((x - r.left) / r.width * c.width);
            const d = c.getContext("2d").getImageData(px, 0, 1, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 127; return n; }""", [x, y])
        assert 7 <= column <= 9
        keep_screenshot(page, "zoom.png")
        page.keyboard.press("0")  # fit again
        assert scale(page) == pytest.approx(fitted, rel=1e-3)


def test_mask_file_warning_truncated_photo_and_undo(server: str, browser: sync_api.Browser, tmp_path: Path) -> None:
    w, h = 320, 240
    photo = landscape(h, w)
    Image.fromarray(photo).save(tmp_path / "small.png")
    full = io.BytesIO()
    Image.fromarray(photo).save(full, format="PNG")
    (tmp_path / "cut.png").write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    hole = np.zeros((h, w), bool)
    hole[20:220, 30:260] = True  # 60% of the photo: the server asks whether it is inverted
    Image.fromarray(hole.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    Image.fromarray(hole[:100, :100].astype(np.uint8) * 255).save(tmp_path / "small-mask.png")
    with page_of(browser, server, viewport=DESKTOP) as page:
        page.locator("#file").set_input_files(tmp_path / "cut.png")
        expect(page.locator("#error")).to_contain_text("cut.png cannot be read: it is truncated")
        expect(page.locator("#frame")).to_be_hidden()

        open_photo(page, tmp_path / "small.png", (w, h))
        page.locator("#mask-file").set_input_files(tmp_path / "small-mask.png")
        expect(page.locator("#error")).to_contain_text("is 100×100 px but the photo is 320×240 px")
        expect(page.locator("#inpaint")).to_be_disabled()
        page.locator("#mask-file").set_input_files(tmp_path / "mask.png")
        expect(page.locator("#status")).to_contain_text("59.9% of the photo is hole")
        expect(page.locator("#error")).to_be_hidden()
        page.click("#inpaint")
        expect(page.locator("#warning")).to_contain_text("is it inverted?", timeout=60_000)
        result = download(page, "small-inpainted.png")
        changed = (result != photo).any(-1)
        assert changed.any() and not changed[~hole].any() and changed[hole].mean() > 0.5

        page.keyboard.press("Control+z")
        assert shown_image(page) == (tmp_path / "small.png").read_bytes()
        expect(page.locator("#warning")).to_be_hidden()
        expect(page.locator("#inpaint")).to_be_enabled()  # the loaded mask is back
        page.keyboard.press("Control+z")
        expect(page.locator("#inpaint")).to_be_disabled()
        page.keyboard.press("Control+y")
        page.keyboard.press("Control+y")
        expect(page.locator("#warning")).to_be_visible()


def test_cancel_a_fill_that_does_not_come_back(server: str, browser: sync_api.Browser, tmp_path: Path) -> None:
    Image.fromarray(landscape(240, 320)).save(tmp_path / "small.png")
    with page_of(browser, server, viewport=DESKTOP) as page:
        held: list[sync_api.Route] = []
        page.route("**/api/v1/inpaint", lambda route: held.append(route))  # a server that never answers
        open_photo(page, tmp_path / "small.png", (320, 240))
        paint(page, (0.3, 0.5), (0.6, 0.5))
        for cancel in (lambda: page.click("#cancel"), lambda: page.keyboard.press("Escape")):
            page.click("#inpaint")
            expect(page.locator("#working")).to_be_visible()
            expect(page.locator("#elapsed")).not_to_have_text("0.0 s")
            cancel()
            expect(page.locator("#working")).to_be_hidden()
            expect(page.locator("#status")).to_contain_text("Cancelled after")
            expect(page.locator("#error")).to_be_hidden()
            expect(page.locator("#inpaint")).to_be_enabled()  # usable again: the mask kept, undo too
            expect(page.locator("#undo")).to_be_enabled()
        assert len(held) == 2
        page.unroute("**/api/v1/inpaint")


def test_phone_layout(server: str, browser: sync_api.Browser, tmp_path: Path) -> None:
    Image.fromarray(landscape()).save(tmp_path / "landscape.png")
    with page_of(browser, server, viewport=PHONE, is_mobile=True, has_touch=True) as page:
        open_photo(page, tmp_path / "landscape.png", (W, H))
        toolbar = page.locator(".toolbar").bounding_box()
        stage = page.locator("#stage").bounding_box()
        assert toolbar["height"] < 0.25 * PHONE["height"], toolbar
        assert stage["height"] > 0.55 * PHONE["height"], stage
        assert stage["y"] + stage["height"] <= PHONE["height"] + 1  # nothing to scroll to
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.locator("#mask").tap()  # a finger paints
        expect(page.locator("#inpaint")).to_be_enabled()
        fitted, mid = scale(page), (stage["x"] + stage["width"] / 2, stage["y"] + stage["height"] / 2)
        pinch(page, mid, 40, 120)  # two fingers zoom, and paint nothing
        assert scale(page) == pytest.approx(3 * fitted, rel=0.05)
        page.click("#undo")
        expect(page.locator("#inpaint")).to_be_disabled()
        keep_screenshot(page, "phone.png")
