"""The report as a reader sees it: opened from disk in headless Chromium (Playwright), it logs no
errors, every image decodes, it fetches nothing from outside the file, and it fits a 1280-px window."""
from __future__ import annotations

import sys

import pytest
from PIL import Image

from gan_aug.report import browser, render_report
from gan_aug.report.browser import check_report, find_chromium
from report_fixtures import images, make_metrics, no_synthetic, per_class_generators, rejected_images, training, typed


@pytest.fixture(scope="module")
def chromium():
    pytest.importorskip("playwright.sync_api", reason="needs Playwright: pip install playwright")
    if find_chromium() is None:
        pytest.skip("needs a Chromium binary on PATH (chromium, chromium-browser or google-chrome): "
                    "apt-get install chromium")


@pytest.mark.slow
def test_rendered_report_opens_cleanly_in_chromium(chromium, tmp_path):
    metrics = per_class_generators(make_metrics())
    metrics["training"] = training("per_class")
    path = render_report(typed(metrics), *images(metrics), tmp_path / "report.html", rejected_images=rejected_images())
    html = path.read_text(encoding="utf-8")
    assert 'id="confusion"' in html and 'id="shard-files"' in html and 'class="rejected"' in html

    check = check_report(path, tmp_path / "screenshot.png")

    assert check.console_errors == [] and check.page_errors == []
    # rows shipped, real, synthetic, rejected; funnel, confusion, training, usefulness, validation curve, headroom
    assert len(check.images) == html.count("<img") == 1 + 10 + 8 + 3 + 6
    assert check.broken_images == [] and all(width > 0 and height > 0 for _, width, height in check.images)
    assert any(alt.startswith("confusion matrices") for alt, _, _ in check.images)
    assert check.requests_outside == [] and check.ok
    assert check.page_width <= 1280 and check.wide_tables == []  # every table fits, none scrolls sideways
    assert check.shrunk_samples == []  # sample grids at their full, enlarged size
    samples = [(w, h) for alt, w, h in check.images if alt.startswith(("real samples", "synthetic samples"))]
    assert len(samples) == 18 and min(w for w, _ in samples) >= 64  # 8×8 digits: 64 px each at least
    with Image.open(tmp_path / "screenshot.png") as shot:
        shot.load()
        assert shot.format == "PNG" and shot.width >= 800 and shot.height > 2 * shot.width  # the whole page


@pytest.mark.slow
def test_report_with_long_class_names_still_fits_a_1280px_window(chromium, tmp_path):
    metrics = no_synthetic(make_metrics())
    names = [f"{name} (a long class name from the user's folder)" for name in metrics["dataset"]["class_names"]]
    metrics["dataset"]["class_names"] = names
    for entry, name in zip(metrics["classes"], names):
        entry["name"] = name
    path = render_report(typed(metrics), *images(metrics), tmp_path / "report.html")
    assert "No synthetic rows shipped" in path.read_text(encoding="utf-8")
    check = check_report(path, None)
    assert check.ok and check.page_width <= 1280  # wide tables scroll inside their own box, not the page


@pytest.mark.slow
def test_browser_check_reports_broken_images_console_errors_and_outside_requests(chromium, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title></head><body>'
                      '<img src="data:image/png;base64,iVBORw0KGgoAAAA=" alt="broken">'
                      '<script>console.error("x")</script></body></html>', encoding="utf-8")
    check = check_report(broken, tmp_path / "broken.png")
    assert check.broken_images == ["broken"] and check.images == [("broken", 0, 0)]
    assert check.console_errors == ["error: x"] and check.page_errors == [] and not check.ok
    assert (tmp_path / "broken.png").is_file()

    outside = tmp_path / "outside.html"
    outside.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><title>x</title>'
                       '<link rel="stylesheet" href="https://example.invalid/style.css"></head><body>'
                       '<script>undefinedFunction()</script></body></html>', encoding="utf-8")
    check = check_report(outside, None)
    assert check.requests_outside == ["https://example.invalid/style.css"]
    assert len(check.page_errors) == 1 and "undefinedFunction" in check.page_errors[0]


def test_browser_check_says_what_to_install(tmp_path, monkeypatch):
    page = tmp_path / "report.html"
    page.write_text("<!DOCTYPE html><title>x</title>", encoding="utf-8")
    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    if _importable("playwright.sync_api"):
        with pytest.raises(RuntimeError, match="apt-get install chromium"):
            check_report(page, None)
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # as if not installed
    with pytest.raises(RuntimeError, match="pip install playwright"):
        check_report(page, None)


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True
