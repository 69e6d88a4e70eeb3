"""Open a rendered report in headless Chromium and check what a reader would see: no console errors,
no script errors, every image decodes, and nothing is fetched from outside the file.

Playwright is imported only inside ``check_report``: the library does not depend on it, and a
missing browser is reported as a RuntimeError that says what to install.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DECODE_IMAGES = ("() => Promise.all([...document.images].map(i => i.decode().then("
                 "() => [i.alt, i.naturalWidth, i.naturalHeight], () => [i.alt, 0, 0])))")
TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1280, "height": 900}  # a laptop screen: the report must fit it without sideways scrolling
WIDE_TABLES = ("() => [...document.querySelectorAll('table')].filter(t => t.parentElement.scrollWidth > "
               "t.parentElement.clientWidth || t.getBoundingClientRect().right > document.documentElement.clientWidth)"
               ".map(t => t.id || '(no id)')")
SHRUNK_SAMPLES = ("() => [...document.querySelectorAll('img.samples')].filter(i => i.width < i.naturalWidth)"
                  ".map(i => i.alt)")


@dataclass
class BrowserCheck:
    """What the browser saw. ``images``: (alt, natural width, natural height) per <img>, in page order;
    ``broken_images``: the alt text of each image that did not decode; ``page_width``: the page's scroll
    width at a 1280-px viewport (above 1280: the reader scrolls sideways); ``wide_tables``: tables wider
    than their container (they scroll inside it); ``shrunk_samples``: sample grids shown smaller than
    their pixels."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    images: list[tuple[str, int, int]] = field(default_factory=list)
    requests_outside: list[str] = field(default_factory=list)
    page_width: int = 0
    wide_tables: list[str] = field(default_factory=list)
    shrunk_samples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.console_errors or self.page_errors or self.broken_images or self.requests_outside)


def find_chromium() -> str | None:
    """The first Chromium-like browser on PATH."""
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def check_report(html_path: str | Path, screenshot_path: str | Path | None = None, *,
                 executable: str | None = None) -> BrowserCheck:
    """Load ``html_path`` from disk in headless Chromium, collect console errors and warnings, page
    errors, undecodable images and any request other than the file itself (such requests are
    recorded, then aborted: the check never goes online), measure how the page fits a 1280-px window,
    and save a full-page screenshot."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise RuntimeError("checking a report in a browser needs Playwright: pip install playwright") from error
    executable = executable or find_chromium()
    if executable is None:
        raise RuntimeError(f"checking a report in a browser needs Chromium ({', '.join(CHROMIUM_NAMES)} on PATH): "
                           "apt-get install chromium")
    url = Path(html_path).resolve().as_uri()
    check = BrowserCheck()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(TIMEOUT_MS)
            page.on("console", lambda message: check.console_errors.append(f"{message.type}: {message.text}")
                    if message.type in ("error", "warning") else None)
            page.on("pageerror", lambda error: check.page_errors.append(str(error)))
            page.on("request", lambda request: check.requests_outside.append(request.url)
                    if request.url != url and not request.url.startswith("data:") else None)
            page.route(lambda request_url: request_url != url and not request_url.startswith("data:"),
                       lambda route: route.abort())
            page.goto(url, wait_until="load")
            check.images = [(alt, int(width), int(height)) for alt, width, height in page.evaluate(DECODE_IMAGES)]
            check.broken_images = [alt for alt, width, height in check.images if not (width and height)]
            check.page_width = int(page.evaluate("() => document.documentElement.scrollWidth"))
            check.wide_tables, check.shrunk_samples = page.evaluate(WIDE_TABLES), page.evaluate(SHRUNK_SAMPLES)
            if screenshot_path is not None:
                page.screenshot(path=str(screenshot_path), full_page=True)
        finally:
            browser.close()
    return check
