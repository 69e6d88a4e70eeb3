"""The report: self-contained HTML, escaped user text, and the same numbers in every summary; the verdict
says a tie is a tie, and what shipped and why (usefulness, the mix) is shown."""
from __future__ import annotations

import base64
import copy
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from gan_aug.evaluate.intervals import outcome
from gan_aug.report import (
    class_table_rows,
    comparison_table_rows,
    distribution_png,
    downstream_table_rows,
    filter_table_rows,
    funnel_png,
    headroom_png,
    mix_curve_png,
    mix_table_rows,
    quality_table_rows,
    render_report,
    sample_grid_png,
    summary_markdown,
    usefulness_png,
    usefulness_table_rows,
    verdict,
    verdict_text,
)
from gan_aug.report.plots import confusion_figure, row_normalised
from report_fixtures import (
    FILTERS,
    METHODS,
    fixed_policy,
    make_metrics,
    no_synthetic,
    per_class_generators,
    per_class_run,
    rejected_images,
    typed,
)
from report_fixtures import images as _images
from report_fixtures import training as _training

IMG_RE = re.compile(r'<img[^>]*\ssrc="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture
def metrics() -> dict:
    """A realistic metrics.json for a long-tailed digits run (see report_fixtures)."""
    return make_metrics()


@pytest.fixture(scope="module")
def base_html(tmp_path_factory) -> str:
    """The report of ``make_metrics()`` as it is, rendered once for the tests that read it unchanged
    (a render draws every figure: about two seconds)."""
    return _render(make_metrics(), tmp_path_factory.mktemp("base-report"))


def _judge(metrics: dict, label: int, status: str, ratio: float) -> dict:
    """FD acceptance found the class's samples too far from its real images: flag it or drop its rows
    (duplicated real rows then fill the class to its target)."""
    entry = metrics["classes"][label]
    entry.update(acceptance=status, fd_ratio=ratio, fd_matched=round(ratio * entry["fd_floor"], 3))
    if status == "dropped":
        entry.update(used=0, duplicates=entry["needed"])
    metrics["filters"].update({"fd_policy": "drop" if status == "dropped" else "warn", status: [label]})
    return entry


def _section(html: str, start: str) -> str:
    """From `start` to the next h2: one section of the report."""
    section = html[html.index(start):]
    return section[:section.index("<h2", 1)]


def _table_row(html: str, table: str, label: int, name: str) -> str:
    table = html.split(f'<table id="{table}">', 1)[1].split("</table>", 1)[0]
    match = re.search(rf'<tr[^>]*><td class="num">{label}</td><td>{re.escape(name)}</td>.*?</tr>', table, re.S)
    assert match, f"no row for class {label} in table {table}"
    return match.group(0)


def _decode(payload: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
    image.load()
    assert image.format == "PNG"
    return image


def _render(metrics: dict, tmp_path) -> str:
    path = render_report(typed(metrics), *_images(metrics), tmp_path / "report.html")
    assert path == tmp_path / "report.html" and path.is_file()
    return path.read_text(encoding="utf-8")


def _class_row(html: str, label: int, name: str) -> str:
    return _table_row(html, "classes", label, name)


def test_report_holds_every_class_method_and_number(base_html, metrics):
    html = base_html
    for name in metrics["dataset"]["class_names"]:
        assert f"<td>{name}</td>" in html
    for method in METHODS:
        assert f"<td>{method}</td>" in html or f"<td>{method} (best baseline)</td>" in html  # downstream
        assert f"<th>{method}</th>" in html  # recall table
    for number in ("0.812", "0.835", "0.847", "0.803", "+0.035", "+0.005", "+0.019", "+0.190", "95.2 s"):
        assert number in html
    assert "oversampled (best baseline)" in html and "[-0.023, +0.047]" in html.split('id="comparison"', 1)[1]
    assert "[0.781, 0.843]" in html  # the plain method's balanced-accuracy interval over seeds
    rare_recall = metrics["downstream"]["methods"]["gan"]["per_class_recall"][9]
    assert f"{rare_recall:.3f}" in html.split('<table id="recall">', 1)[1]
    for value in metrics["run"].values():
        assert str(value) in html


def test_report_images_are_inline_pngs_and_nothing_is_external(base_html, metrics):
    html = base_html
    payloads = IMG_RE.findall(html)
    with_synthetic = sum(1 for c in metrics["classes"] if c["used"])
    # rows shipped, grids, funnel, confusion matrices, usefulness, the mix's validation curve, the headroom
    assert len(payloads) == 1 + len(metrics["classes"]) + with_synthetic + 1 + 1 + 1 + 1 + 1
    assert len(payloads) == html.count("<img")
    for payload in payloads:
        image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
        image.load()
        assert image.format == "PNG" and min(image.size) >= 32
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "<script" not in html


def test_report_states_synthetic_and_dashes_missing_values(base_html, metrics, tmp_path):
    html = base_html
    assert "Synthetic rows are synthetic" in html and "is_synthetic" in html
    assert "None" not in html
    row = _class_row(html, 0, "digit-0")
    assert row.count("<td class=\"num\">—</td>") == 2  # D threshold and FD
    assert "-0.370" in _class_row(html, 9, "digit-9") and "13.90" in _class_row(html, 9, "digit-9")
    assert _class_row(html, 8, "digit-8").startswith('<tr class="asked-short" title="10 of 16 asked for')
    assert 'class="asked-short"' not in _class_row(html, 9, "digit-9")


def test_class_without_synthetic_samples_shows_only_real_grid(base_html):
    html = base_html
    assert 'alt="real samples of class digit-0"' in html
    assert 'alt="synthetic samples of class digit-0"' not in html
    assert 'alt="synthetic samples of class digit-9"' in html


def test_report_escapes_user_text_and_replaces_atomically(metrics, tmp_path):
    hostile = "<b>bold</b> & $\\bad$"
    metrics = copy.deepcopy(metrics)
    metrics["classes"][3]["name"] = metrics["dataset"]["class_names"][3] = hostile
    metrics["run"]["name"] = '"><script>x</script>'
    html = _render(metrics, tmp_path)
    html = _render(metrics, tmp_path)  # a second run replaces the file
    assert "<b>bold</b>" not in html and "<script>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; $\\bad$" in html
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_summary_markdown_tables(metrics):
    text = summary_markdown(typed(metrics))
    for method, scores in metrics["downstream"]["methods"].items():
        (low, high), (few_low, few_high) = scores["ci"]["balanced_accuracy"], scores["ci"]["few_shot_recall"]
        row = (f"| {method} | {scores['accuracy']:.3f} | {scores['balanced_accuracy']:.3f} | "
               f"{scores['macro_f1']:.3f} | {scores['g_mean']:.3f} | {scores['few_shot_recall']:.3f} | "
               f"[{low:.3f}, {high:.3f}] | [{few_low:.3f}, {few_high:.3f}] | {scores['train_rows']} | 667 |")
        assert re.search(rf"^{re.escape(row)}$", text, re.M), row
    assert "| gan vs oversampled | balanced accuracy | +0.012 | [-0.023, +0.047] | 0.279 | 2/3 | tie |" in text
    assert "| gan vs oversampled | few-shot recall | +0.060 | [+0.035, +0.085] | 0.009 | 3/3 | win |" in text
    assert "| 0 | digit-0 | 126 | 126 | 0 | 0 | 0 | 0 | 126 | — | 0.91 | — | — |" in text
    assert "| 4 | digit-4 | 33 | 126 | 99 | 66 | 0 | 93 | 126 | 0.55 | 0.35 | -0.220 | 8.40 |" in text
    assert "| 9 | digit-9 | 6 | 126 | 18 | 12 | 6 | 114 | 126 | 0.72 | 0.41 | -0.370 | 13.90 |" in text
    assert "Short of target" not in text
    assert "accepted fewer synthetic rows than it asked for (budget ran out): digit-8 (10 of 16)." in text
    assert "Filters in order: discriminator → label → memorisation." in text
    assert ("| 9 | digit-9 | 12 | 18 | 15 (83%) | 13 (72%) | 12 (67%) | 6 | — | unjudged |" in
            text.split("## Filters", 1)[1])
    assert "| 5 | digit-5 | 46 | 69 | 57 (83%) | 49 (71%) | 46 (67%) | 23 | 1.50 | ok |" in text
    assert "| 0 | digit-0 |" not in text.split("## Filters", 1)[1]  # nothing synthesised, no funnel
    assert ("FD acceptance unjudged: digit-8 (8 real images, fewer than the 10 needed to judge); "
            "digit-9 (6 real images, fewer than the 10 needed to judge).") in text
    assert "None" not in text
    assert "Training rows: 1260, of which 210 synthetic and 625 duplicated real" in text
    assert "## Mix\n\nMix shipped: dose 1, weight 0.5 (chosen on validation)." in text
    assert "3 Parquet file(s): train 1260 rows, validation 100 rows, test 170 rows" in text
    assert "(content key `eeeeeeeeeeeeeeee…`)." in text


def test_summary_markdown_keeps_table_shape_with_pipes_in_names(metrics):
    metrics["classes"][2]["name"] = "a|b <i>"
    line = next(row for row in summary_markdown(typed(metrics)).splitlines() if row.startswith("| 2 |"))
    assert "a\\|b &lt;i&gt;" in line
    assert len(re.findall(r"(?<!\\)\|", line)) == 14  # 13 columns


def test_table_rows(metrics):
    rows = downstream_table_rows(typed(metrics))
    assert [r["method"] for r in rows] == list(METHODS)
    assert all(set(r) == {"method", "accuracy", "balanced_accuracy", "macro_f1", "g_mean", "few_shot_recall",
                          "train_rows", "balanced_accuracy_ci_low", "balanced_accuracy_ci_high",
                          "few_shot_recall_ci_low", "few_shot_recall_ci_high", "steps"} for r in rows)
    assert rows[0]["steps"] == 667  # the mean of the seeds' 640, 800 and 560 steps
    assert rows[2]["balanced_accuracy"] == 0.847 and rows[2]["few_shot_recall"] == 0.62
    assert rows[0]["train_rows"] == 425
    assert (rows[0]["balanced_accuracy_ci_low"], rows[0]["balanced_accuracy_ci_high"]) == (0.7813, 0.8434)
    assert (rows[2]["few_shot_recall_ci_low"], rows[2]["few_shot_recall_ci_high"]) == (0.5206, 0.7194)
    comparison = comparison_table_rows(typed(metrics))
    assert comparison == [
        {"comparison": "gan vs oversampled", "metric": "balanced accuracy", "difference": 0.012, "ci_low": -0.023,
         "ci_high": 0.047, "p_value": 0.2786, "wins": "2/3", "outcome": "tie"},
        {"comparison": "gan vs oversampled", "metric": "few-shot recall", "difference": 0.06, "ci_low": 0.0352,
         "ci_high": 0.0848, "p_value": 0.0091, "wins": "3/3", "outcome": "win"}]

    classes = class_table_rows(typed(metrics))
    assert [c["label"] for c in classes] == list(range(10))
    expected = {"label", "name", "real", "target", "needed", "asked", "generated", "accepted", "used", "duplicates",
                "final", "dose", "d_threshold", "fd", "acceptance", "asked_short_by"}
    assert all(set(c) == expected for c in classes)
    assert [c["duplicates"] for c in classes] == [0, 0, 0, 34, 93, 80, 92, 102, 110, 114]
    assert all(c["real"] + c["used"] + c["duplicates"] == c["final"] == c["target"] for c in classes)
    assert [c["asked_short_by"] for c in classes] == [0] * 8 + [6, 0]
    assert classes[0]["fd"] is None and classes[9]["fd"] == pytest.approx(13.9)


def test_sample_grid_upscales_with_nearest_and_caps_samples():
    image = np.arange(64, dtype=np.uint8).reshape(1, 1, 8, 8) * 3
    grid = np.asarray(Image.open(io.BytesIO(sample_grid_png(image))))
    assert grid.shape == (64, 64, 3)  # 8 px × 8; make_grid adds no padding around a single image
    np.testing.assert_array_equal(grid[..., 0], np.kron(image[0, 0], np.ones((8, 8), np.uint8)))

    many = np.random.default_rng(0).integers(0, 256, (40, 3, 8, 8), dtype=np.uint8)
    assert Image.open(io.BytesIO(sample_grid_png(many))).size == (4 * 66 + 2, 4 * 66 + 2)  # 16: four by four
    big = np.zeros((2, 3, 100, 100), np.uint8)  # large enough already: not enlarged
    assert Image.open(io.BytesIO(sample_grid_png(big))).size == (2 * 102 + 2, 104)
    assert sample_grid_png(np.zeros((0, 1, 8, 8), np.uint8)) is None


def test_distribution_png_renders(metrics):
    image = Image.open(io.BytesIO(distribution_png(typed(metrics))))
    image.load()
    assert image.format == "PNG" and image.size[0] > image.size[1]


def test_quality_table_shows_each_distance_beside_its_floor(metrics, tmp_path):
    entry = metrics["classes"][5]
    entry.update(fd=12.345, fd_floor=4.321, fd_ci_low=10.5, fd_ci_high=15.25, kid=0.0123, kid_floor=-0.002,
                 kid_ci_low=0.0071, kid_ci_high=0.0189, fd_matched=7.777, fd_ratio=1.8,
                 precision=0.75, recall=0.5, density=0.9, coverage=0.6)
    rows = quality_table_rows(typed(metrics))
    # every synthesised class, class 4 too: it shipped none, but its samples were measured
    assert [row["label"] for row in rows] == [c["label"] for c in metrics["classes"] if c["funnel"]]
    assert 0 not in [row["label"] for row in rows]  # class 0 needed nothing: no quality row
    assert {k: rows[4][k] for k in ("kid_ci_low", "kid_ci_high", "fd_matched", "fd_ratio", "acceptance")} == {
        "kid_ci_low": 0.0071, "kid_ci_high": 0.0189, "fd_matched": 7.777, "fd_ratio": 1.8, "acceptance": "ok"}
    html = _render(metrics, tmp_path)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", _table_row(html, "quality", 5, "digit-5"), re.S)
    assert cells[4:] == ["12.35", "4.32", "7.78", "1.80", "<strong>ok</strong>", "0.012", "-0.002"]
    more = re.findall(r"<td[^>]*>(.*?)</td>", _table_row(html, "quality-more", 5, "digit-5"), re.S)
    assert more[2:] == ["10.50 – 15.25", "0.007 – 0.019", "0.75", "0.50", "0.90", "0.60"]  # in a details element
    details = html[html.index('<details id="quality-details">'):html.index("</details>")]
    assert '<table id="quality-more">' in details and '<table id="quality">' not in details


@pytest.mark.parametrize("status, policy, kept", [("dropped", "drop", False), ("flagged", "warn", True)])
def test_class_failing_fd_acceptance_is_marked_with_its_ratio(metrics, tmp_path, status, policy, kept):
    entry = _judge(metrics, 7, status, 6.25)
    rows = {row["label"]: row for row in quality_table_rows(typed(metrics))}
    assert rows[7]["used"] == (12 if kept else 0)  # a dropped class keeps its quality row
    assert rows[7]["fd_ratio"] == 6.25 and rows[7]["acceptance"] == status and rows[7]["fd"] == entry["fd"]
    assert filter_table_rows(typed(metrics))[6]["acceptance"] == status

    html = _render(metrics, tmp_path)
    reason = ("matched FD / floor 6.25 &gt; limit 4.0; "
              + ("policy warn: rows kept" if kept else "policy drop: synthetic rows removed"))
    for table in ("quality", "funnel"):
        row = _table_row(html, table, 7, "digit-7")
        assert row.startswith(f'<tr class="{status}">') and f"<strong>{status}</strong>: {reason}" in row
    assert "6.25" in _table_row(html, "quality", 7, "digit-7")
    assert '<tr class="ok">' not in html and "<strong>ok</strong>: " not in _section(html, "<h2>Sample quality")
    assert f"(policy {policy})" in _section(html, 'id="filters"')
    cells = re.findall(r"<td[^>]*>(.*?)</td>", _class_row(html, 7, "digit-7"), re.S)
    assert cells[7:10] == (["12", "102", "126"] if kept else ["0", "114", "126"])  # duplicates fill the class

    text = summary_markdown(typed(metrics))
    assert f"FD acceptance {status}: digit-7 ({reason})." in text
    assert "Short of target" not in text


def test_filters_section_lists_each_funnel_with_thresholds(base_html, metrics):
    html = base_html
    section = _section(html, '<h2 id="filters">')
    order = section[section.index('<ol id="filter-order">'):section.index("</ol>")]
    assert [order.index(f"<strong>{name}</strong>") for name in FILTERS] == sorted(
        order.index(f"<strong>{name}</strong>") for name in FILTERS)
    assert "held-out images of the class" in order and "at least τ" in order and "nearest-neighbour" in order
    assert "Above 4.0× the floor the class is flagged and its rows are kept (policy warn)." in section
    assert "fewer than 10 real images are not judged" in section
    synthesised = [c for c in metrics["classes"] if c["funnel"]]
    for entry in synthesised:
        row = _table_row(section, "funnel", entry["label"], entry["name"])
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        generated = entry["funnel"]["generated"]
        assert cells[2:7] == [str(entry["asked"]), str(generated),
                              *(f"{entry['funnel'][f]} ({100 * entry['funnel'][f] / generated:.0f}%)" for f in FILTERS)]
        assert cells[7] == str(entry["used"])
        d = entry["filters"]["discriminator"]
        assert cells[9:] == [f"{d['threshold']:.3f}<br><small>q 0.05; {d['calibration']}, {d['calibration_images']} "
                             "images</small>", "0.500",
                             f"{entry['filters']['memorisation']['threshold']:.3f}<br><small>q 0.05</small>"]
    assert _table_row(section, "funnel", 9, "digit-9").startswith('<tr class="unjudged">')
    assert "6 real images, fewer than the 10 needed to judge" in _table_row(section, "funnel", 9, "digit-9")
    assert '<td class="num">0</td><td>digit-0</td>' not in section
    assert "pooled: held-out images of every class" in section
    payloads = IMG_RE.findall(section)
    assert len(payloads) == 1
    plot = _decode(payloads[0])
    assert plot.size == Image.open(io.BytesIO(funnel_png(typed(metrics)))).size

    more = copy.deepcopy(metrics)  # 20 classes: the plot grows a row per class instead of squeezing them
    more["classes"] += [{**copy.deepcopy(c), "label": c["label"] + 10} for c in metrics["classes"]]
    tall = Image.open(io.BytesIO(funnel_png(typed(more))))
    assert tall.size[0] == plot.size[0] and tall.size[1] - plot.size[1] >= 9 * 30  # 30 px or more per class


def test_filter_table_rows_equal_the_funnel(metrics):
    rows = filter_table_rows(typed(metrics))
    synthesised = [c for c in metrics["classes"] if c["funnel"]]
    assert [row["label"] for row in rows] == [c["label"] for c in synthesised] == list(range(1, 10))
    stages = ["generated", "passed_discriminator", "passed_label", "passed_memorisation"]
    for row, entry in zip(rows, synthesised):
        assert list(row)[:7] == ["label", "name", "asked", *stages]
        assert [row[key] for key in stages] == list(entry["funnel"].values())
        assert row["accepted"] == list(entry["funnel"].values())[-1] and row["used"] == entry["used"]
        assert row["acceptance"] == entry["acceptance"] and row["fd_ratio"] == entry["fd_ratio"]
        assert row["discriminator_threshold"] == entry["filters"]["discriminator"]["threshold"]
        assert row["label_threshold"] == 0.5
        assert row["memorisation_threshold"] == entry["filters"]["memorisation"]["threshold"]
        assert row["discriminator_calibration"] == entry["filters"]["discriminator"]["calibration"]
    assert rows[8]["generated"] == 18 and rows[8]["passed_label"] == 13 and rows[8]["acceptance"] == "unjudged"
    assert [row["asked"] for row in rows] == [c["asked"] for c in synthesised]


def test_rejected_samples_show_per_filter_in_filter_order(metrics, tmp_path):
    rejected = rejected_images()
    assert 'class="rejected"' not in _render(metrics, tmp_path)
    path = render_report(typed(metrics), *_images(metrics), tmp_path / "report.html", rejected_images=rejected)
    html = path.read_text(encoding="utf-8")
    cards = {int(m.group(1)): m.group(0) for m in re.finditer(
        r'<div class="grid-card">\s*<h3>(\d+): .*?</div>\s*</div>', html, re.S)}
    figures = re.findall(r'<figure class="rejected"><img class="samples" src="data:image/png;base64,([^"]+)" '
                         r'alt="samples of class digit-9 rejected by the (\w+) filter">'
                         r"<figcaption>rejected by (\w+)</figcaption>", cards[9])
    assert [(alt, caption) for _, alt, caption in figures] == [("discriminator", "discriminator"),
                                                               ("memorisation", "memorisation")]
    sizes = [_decode(payload).size for payload, _, _ in figures]
    assert sizes == [(4 * 66 + 2, 4 * 66 + 2), (3 * 66 + 2, 66 + 2)]  # at most 16 per filter, 8 px shown as 64
    assert cards[5].count('class="rejected"') == 1 and "<figcaption>rejected by label</figcaption>" in cards[5]
    assert all("rejected" not in cards[label] for label in cards if label not in (5, 9))


def test_a_run_that_synthesised_nothing_leaves_the_filters_out(metrics, tmp_path):
    for entry in metrics["classes"]:  # a balanced data set: no class needed rows
        entry.update({key: None for key in ("funnel", "filters", "acceptance", "fd", "fd_floor", "fd_matched",
                                            "fd_ratio", "kid", "kid_floor", "kid_ci_low", "kid_ci_high",
                                            "d_threshold")})
    html = _render(metrics, tmp_path)  # StrictUndefined: any missing key the template reads would raise
    assert "None" not in html and 'id="filters"' not in html
    result = typed(metrics)
    assert funnel_png(result) is None and filter_table_rows(result) == [] and quality_table_rows(result) == []
    text = summary_markdown(result)
    assert "## Filters" not in text and "None" not in text
    assert '<td class="num">—</td><td class="num">—</td><td><strong>' not in html


def test_metrics_json_round_trips_and_another_schema_version_is_refused(metrics, tmp_path):
    from gan_aug.run_result import SCHEMA_VERSION, RunResult, SchemaVersionError

    result = typed(metrics)
    path = result.write(tmp_path / "metrics.json")
    assert RunResult.read(path) == result and json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert result.downstream.comparison["gan"].outcome == "tie"  # decided by evaluate, stored, read back
    assert result.downstream.comparison["gan"].few_shot_recall.outcome == "win"
    for version, said in ((SCHEMA_VERSION + 1, str(SCHEMA_VERSION + 1)), (None, "(missing)")):
        payload = {**metrics, "schema_version": version} if version else {k: v for k, v in metrics.items()
                                                                           if k != "schema_version"}
        path.write_text(json.dumps(payload))
        expected = f"{path} has schema version {said}, this gan-aug reads version {SCHEMA_VERSION}"
        with pytest.raises(SchemaVersionError, match=re.escape(expected)):
            RunResult.read(path)
    metrics["classes"][0]["unknown_field"] = 1  # a writer and reader that drifted apart fail loudly
    with pytest.raises(ValueError, match="unknown_field"):
        typed(metrics)


@pytest.mark.parametrize("strategy, panels", [("shared", 1), ("per_class", 2)])
def test_training_curves_show_losses_and_fd_per_trained_gan(metrics, tmp_path, strategy, panels):
    from gan_aug.report import training_curves_png

    assert training_curves_png(typed(metrics)) is None  # no GAN trained: no figure, and the report still renders
    assert 'id="training"' not in _render(metrics, tmp_path)
    metrics["training"] = _training(strategy)
    image = Image.open(io.BytesIO(training_curves_png(typed(metrics))))
    assert image.size[1] == pytest.approx(320 * panels, abs=2)  # one row of plots per trained GAN
    assert image.size[0] == pytest.approx(1500, abs=2)  # losses, FD and, recorded at each check, agreement
    html = _render(metrics, tmp_path)
    section = html[html.index('id="training"'):html.index("<h2>Samples")]
    assert "data:image/png;base64," in section
    assert ("one shared conditional GAN" in section) == (strategy == "shared")
    stops = re.findall(r"<li>(.*?)</li>", section)
    early = ("stopped early at step 200 of 1500, after 12.5 s of training: no class&#39;s FD on held-out images "
             "improved for gan.early_stop_patience checks (budget: 1500 steps, no time limit).")
    if strategy == "shared":
        assert stops == ["Shared GAN " + early]
    else:
        assert stops == ["GAN of class digit-5 " + early, "GAN of class digit-9 stopped at its time budget at step "
                         "200 of 1500, after 60.2 s of training (budget: 1500 steps, 60 s)."]
    for run in metrics["training"]["runs"].values():  # checks without a recognition classifier: no agreement
        for check in run["quality_history"]:
            check.pop("agreement", None)  # per-class runs share their checks
    assert Image.open(io.BytesIO(training_curves_png(typed(metrics)))).size[0] == pytest.approx(1000, abs=2)


def _panels(fig) -> list:
    """The confusion figure's matrix panels (the colour bar's axes hold no image)."""
    return [ax for ax in fig.axes if ax.images]


def test_confusion_section_shows_one_panel_per_method_with_a_matrix(base_html, metrics, tmp_path):
    html = base_html
    assert html.index('<table id="recall">') < html.index('<h3 id="confusion">') < html.index("<h2>Per class")
    section = _section(html, '<h3 id="confusion">')
    (img,) = re.findall(r"<img[^>]*>", section)
    assert 'alt="confusion matrices, rows normalised, for plain, oversampled, gan"' in img
    (payload,) = IMG_RE.findall(section)
    three = _decode(payload)

    fig = confusion_figure(typed(metrics))
    panels = _panels(fig)
    assert [ax.get_title() for ax in panels] == list(METHODS)
    assert len(fig.axes) == len(METHODS) + 1  # and one colour bar
    names = metrics["dataset"]["class_names"]
    for ax, method in zip(panels, METHODS):
        assert [t.get_text() for t in ax.get_xticklabels()] == names
        assert [t.get_text() for t in ax.get_yticklabels()] == names
        counts = np.array(metrics["downstream"]["methods"][method]["confusion_matrix"], dtype=float)
        shown = np.ma.filled(ax.images[0].get_array(), np.nan)
        np.testing.assert_allclose(shown, counts / counts.sum(axis=1, keepdims=True))
        np.testing.assert_allclose(np.diag(shown), metrics["downstream"]["methods"][method]["per_class_recall"],
                                   atol=0.01)  # row-normalised: the diagonal is the recall
        assert len(ax.texts) == 100 and ax.texts[0].get_text() == f"{100 * shown[0, 0]:.0f}"  # percent

    del metrics["downstream"]["methods"]["oversampled"]  # two methods ran: two panels, one row
    html = _render(metrics, tmp_path)
    section = _section(html, '<h3 id="confusion">')
    assert 'alt="confusion matrices, rows normalised, for plain, gan"' in section
    assert [ax.get_title() for ax in _panels(confusion_figure(typed(metrics)))] == ["plain", "gan"]
    two = _decode(IMG_RE.findall(section)[0])
    assert two.size[0] == three.size[0] and two.size[1] < three.size[1] - 300  # two a row: one row fewer
    assert 1000 <= three.size[0] <= 1200  # two panels a row: shown at about full size on the page


def test_confusion_cells_are_numbered_only_for_a_few_classes(metrics):
    for size, numbered in ((12, True), (13, False)):
        matrix = (np.eye(size, dtype=int) * 5 + 1).tolist()
        metrics["dataset"]["class_names"] = [f"c{i}" for i in range(size)]
        methods = metrics["downstream"]["methods"]
        methods.update({name: {**methods[name], "confusion_matrix": matrix} for name in ("plain", "gan")})
        methods.pop("oversampled", None)
        panels = _panels(confusion_figure(typed(metrics)))
        assert len(panels) == 2
        assert [len(ax.texts) for ax in panels] == ([size * size] * 2 if numbered else [0, 0])
        assert panels[0].get_xticklabels()[-1].get_text() == f"c{size - 1}"


def test_row_normalised_leaves_classes_without_test_images_blank():
    rates = row_normalised(np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]]))
    np.testing.assert_allclose(rates[[0, 2]], [[0.75, 0.25, 0.0], [0.25, 0.25, 0.5]])
    assert np.isnan(rates[1]).all()


def _provenance(html: str) -> str:
    return html[html.index('<h2 id="provenance">'):]


def _table_cells(html: str, table: str) -> list[list[str]]:
    body = html.split(f'<table id="{table}">', 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)][1:]


def test_provenance_shows_packages_seeds_checkpoints_and_shard_files(metrics, tmp_path):
    per_class_generators(metrics)  # one GAN per class: no single checkpoint
    metrics["shards"]["files"][0]["file"] = "shards/<b>train</b>-00000-of-00001.parquet"  # user text: escaped
    section = _provenance(_render(metrics, tmp_path))
    packages = re.search(r'<dd id="packages">(.*?)</dd>', section).group(1)
    assert packages == ("python 3.11.9, gan-aug 0.1.0, torch 2.14.1, torchvision 0.29.1, numpy 2.3.1, "
                        "pyarrow 21.0.0, pillow 11.3.0, pytorch-fid —")  # not installed: a dash
    assert re.search(r'<dd id="seeds">(.*?)</dd>', section).group(1) == (
        "split 0, long_tail 0, gan 0, generate 1, evaluate 0")
    assert "<dt>content key</dt><dd>" + "e" * 64 + "</dd>" in section
    assert "<dt>config hash</dt><dd>ab12cd34ef56</dd>" in section and "shards&#39; config hash" not in section
    assert "d" * 64 in re.search(r'<dd id="image-folder">(.*?)</dd>', section).group(1)
    assert "images/SHA256SUMS" in section and "1530 files" in section

    generators = _table_cells(section, "generators")
    synthesised = [c for c in metrics["classes"] if c["used"]]
    assert generators == [[c["name"], "<code>" + f"{c['label']:02d}" * 32 + "</code>"] for c in synthesised]
    assert "<dt>generator sha256</dt><dd>one GAN per class (see the table below)</dd>" in section

    files = _table_cells(section, "shard-files")
    assert files == [
        ["train", "<code>shards/&lt;b&gt;train&lt;/b&gt;-00000-of-00001.parquet</code>", "1260", "1.65",
         '<code class="hash">' + "a" * 64 + "</code>"],
        ["validation", "<code>shards/validation-00000-of-00001.parquet</code>", "100", "0.10",
         '<code class="hash">' + "b" * 64 + "</code>"],
        ["test", "<code>shards/test-00000-of-00001.parquet</code>", "170", "0.17",
         '<code class="hash">' + "c" * 64 + "</code>"]]
    assert "<b>train</b>" not in section
    assert _table_cells(section, "shard-splits") == [["train", "1260", "425", "210", "625", "1"],
                                                     ["validation", "100", "100", "0", "0", "1"],
                                                     ["test", "170", "170", "0", "0", "1"]]
    assert "validation and test hold real images only" in section

    snippet = re.search(r"<pre><code>(.*?)</code></pre>", section, re.S).group(1)
    assert "load_dataset(" in snippet and "&#34;parquet&#34;" in snippet
    for split in ("train", "validation", "test"):
        assert f"&#34;{split}&#34;: &#34;shards/{split}-*.parquet&#34;" in snippet
    assert "not row[&#34;is_synthetic&#34;] and not row[&#34;is_duplicate&#34;]" in snippet  # real rows, once each
    assert "<code>gan-aug verify DIR</code> checks every checksum" in section


def test_provenance_with_a_shared_generator_and_no_image_folder(metrics, tmp_path):
    metrics["shards"]["image_folder"] = None  # shards.image_folder off: Parquet only
    html = _render(metrics, tmp_path)
    section = _provenance(html)
    assert 'id="generators"' not in section and "one GAN per class" not in section
    assert "<dt>generator sha256</dt><dd>" + "cd34" * 16 + "</dd>" in section
    assert 'id="image-folder"' not in section and "each image in the image folder" not in section
    assert "None" not in section
    assert "(210 synthetic and 625 duplicated of 1260 training rows)" in html


def _verdict(html: str) -> str:
    return re.search(r'<div class="verdict (\w+)" id="verdict">(.*?)</div>', html, re.S).group(0)


def _set_balanced_accuracy(metrics: dict, ci: list | None, mean: float) -> None:
    """The comparison as gan_aug.evaluate would record it: with the outcome it decided from the interval."""
    comparison = metrics["downstream"]["comparison"]["gan"]
    comparison.update(mean_diff=mean, ci=ci, outcome=outcome(ci))


@pytest.mark.parametrize("ci, mean, words, tone", [
    ([0.003, 0.027], 0.015, "beat the best baseline (oversampled) by +1.5 points of balanced accuracy [+0.3, +2.7]",
     "helped"),
    ([-0.003, 0.027], 0.012, "tied with the best baseline (oversampled) in balanced accuracy (+1.2 points, but the "
     "interval [−0.3, +2.7] contains 0", "helped"),
    ([-0.027, -0.003], -0.015, "lost to the best baseline (oversampled) by 1.5 points of balanced accuracy "
     "[−2.7, −0.3]", "mixed"),
    (None, 0.012, "differed from the best baseline (oversampled) by +1.2 points of balanced accuracy (one seed: no "
     "interval, no claim)", "helped"),
])
def test_verdict_calls_a_tie_a_tie_and_a_loss_a_loss(metrics, tmp_path, ci, mean, words, tone):
    _set_balanced_accuracy(metrics, ci, mean)
    found = verdict(typed(metrics))
    assert found.text.startswith("The GAN's mix " + words) and found.tone == tone
    assert ("beat the best baseline" in found.text) == (ci is not None and ci[0] > 0)  # never "beat" for a tie
    assert "and beat it by +6.0 points of few-shot recall [+3.5, +8.5] (3/3 seeds)" in found.text
    assert found.text.endswith("synthetic rows shipped for 8 of the 9 classes that needed rows (all but digit-4), "
                               "at dose 1, weight 0.5.")
    html = _render(metrics, tmp_path)
    assert html.index('id="verdict"') < html.index("<h2")  # read first, at a glance
    shown = _verdict(html)
    assert f'class="verdict {tone}"' in shown and words.replace("(", "").split("[")[0][:40] in shown.replace("(", "")
    assert verdict_text(typed(metrics)) in summary_markdown(typed(metrics)).replace("&amp;", "&")
    assert summary_markdown(typed(metrics)).split("\n\n")[1].startswith(f"**{found.headline}.**")


def test_verdict_headline_names_each_metrics_outcome(metrics):
    assert verdict(typed(metrics)).headline == "Tied in balanced accuracy; helped few-shot recall"
    _set_balanced_accuracy(metrics, [0.003, 0.027], 0.015)
    assert verdict(typed(metrics)).headline == "Synthetic rows helped"
    comparison = metrics["downstream"]["comparison"]["gan"]
    for part in (comparison, comparison["few_shot_recall"]):
        part.update(mean_diff=-0.02, ci=[-0.03, -0.01], outcome="loss")
    found = verdict(typed(metrics))
    assert found.headline == "Synthetic rows hurt" and found.tone == "hurt"
    assert "lost to the best baseline (oversampled) by 2.0 points of balanced accuracy" in found.text
    assert "and lost to it by 2.0 points of few-shot recall" in found.text and "beat" not in found.text


def test_verdict_says_plainly_when_no_synthetic_rows_shipped(metrics, tmp_path):
    no_synthetic(metrics)
    found = verdict(typed(metrics))
    assert found.tone == "none" and found.headline == "No synthetic rows shipped"
    assert found.text.startswith("No synthetic rows shipped: on validation they did not beat duplication by more "
                                 "than the noise (no synthetic rows: 0.858 on validation (100 images)")
    assert ("The shipped split (real rows, duplicated to balance) tied with the best baseline (oversampled) in "
            "balanced accuracy") in found.text and "beat the best baseline" not in found.text
    html = _render(metrics, tmp_path)
    assert "No synthetic rows shipped: on validation" in _verdict(html)
    assert "<strong>Shipped: no synthetic rows.</strong>" in _section(html, '<h2 id="mix">')
    assert 'alt="synthetic samples of class' not in html and "None" not in html
    assert summary_markdown(typed(metrics)).split("\n\n")[1].startswith("No synthetic rows shipped: on validation")
    assert '<span class="headline">' not in _verdict(html)  # the sentence opens with it: not said twice

    metrics["mix"]["eligible"] = []  # the agreement gate let no class through
    assert verdict(typed(metrics)).text.startswith(
        "No synthetic rows shipped: no class's synthetic rows passed the label-agreement gate (a classifier trained "
        "on real rows recognised fewer than 70% of them)")


def test_downstream_shows_few_shot_recall_and_its_comparison(base_html):
    html = base_html
    section = _section(html, '<h2 id="downstream-section">')
    assert "<th>few-shot recall</th>" in section and "<th>few-shot 95% interval</th>" in section
    gan = next(cells for cells in _table_cells(section, "downstream") if cells[0] == "gan")
    assert gan[5:8] == ["0.620", "[0.836, 0.858]", "[0.521, 0.719]"]
    assert "the 3 classes with the fewest real training images (digit-7, digit-8, digit-9)" in section
    assert ("the GAN&#39;s mix (the training split as shipped: real rows, synthetic rows at loss weight 0.5 and "
            "duplicated real rows)") in section
    assert "gan_weighted" not in html and "with class weights" not in section
    rows = _table_cells(section, "comparison")
    assert [row[1] for row in rows] == ["balanced accuracy", "few-shot recall"]
    assert rows[0][3:] == ["[-0.023, +0.047]", "0.279", "2/3", "tie"] and rows[1][6] == "win"
    assert "<td>digit-9 <em>(few-shot)</em></td>" in section and "<td>digit-6 <em>" not in section


def test_usefulness_section_shows_each_measure_per_class(base_html, metrics, tmp_path):
    html = base_html
    section = _section(html, '<h2 id="usefulness">')
    for measure in ("Label agreement", "Label filter's validation recall", "CAS", "Real-rows recall", "FD ratio"):
        assert f"<strong>{measure}</strong>" in section
    assert "It is measured on the test split and used for no choice." in section
    assert "Overall (mean per-class recall): CAS 0.650 against 0.827 for the real rows." in section
    cells = {row[1]: row for row in _table_cells(section, "usefulness-classes")}
    assert cells["digit-0"][3:] == ["—", "1.00", "0.91", "0.98", "—", "none needed"]
    assert cells["digit-9"][3:] == ["0.72", "0.67", "0.41", "0.58", "—", "yes, dose 1"]
    assert cells["digit-4"][-1] == "no: agreement below 0.7"
    assert _table_row(section, "usefulness-classes", 4, "digit-4").startswith('<tr class="ineligible">')
    (payload,) = IMG_RE.findall(section)
    plot = _decode(payload)
    assert plot.size == Image.open(io.BytesIO(usefulness_png(typed(metrics)))).size and plot.size[0] > plot.size[1]

    per_class_run(metrics)  # no CAS: said so, dashed, and the plot keeps the real-rows bars
    section = _section(_render(metrics, tmp_path), '<h2 id="usefulness">')
    assert "Not measured in this run" in section and "Overall" not in section
    assert _table_cells(section, "usefulness-classes")[9][5] == "—"
    assert usefulness_png(typed(metrics)) is not None


def test_usefulness_and_mix_table_rows(metrics):
    rows = usefulness_table_rows(typed(metrics))
    assert [row["label"] for row in rows] == list(range(10))
    assert rows[4] == {"label": 4, "name": "digit-4", "real": 33, "accepted": 66, "label_agreement": 0.55,
                       "filter_val_recall": 0.86, "cas": 0.35, "real_recall": 0.87, "fd_ratio": 1.5,
                       "eligible": False, "dose": 0.0, "synthetic": 0, "duplicates": 93}
    assert [row["eligible"] for row in rows] == [False, True, True, True, False, True, True, True, True, True]
    curve = mix_table_rows(typed(metrics))
    assert len(curve) == 7 and [row["chosen"] for row in curve] == [False] * 4 + [True, False, False]
    assert curve[4] == {"dose": 1.0, "weight": 0.5, "synthetic_rows": 210, "balanced_accuracy": 0.861,
                        "vs_duplication": 0.019, "duplication_se": 0.004, "clears": True,
                        "vs_top": -0.005, "standard_error": 0.006, "within_noise": True, "seeds": 2, "chosen": True}
    assert curve[0]["synthetic_rows"] == 0 and curve[5]["vs_top"] == 0.0
    assert [row["chosen"] for row in mix_table_rows(typed(no_synthetic(make_metrics())))] == [True] + [False] * 6
    fixed = mix_table_rows(typed(fixed_policy(make_metrics())))  # no curve: the one fixed point
    assert fixed == [{"dose": 1.0, "weight": 1.0, "synthetic_rows": 210, "balanced_accuracy": None,
                      "vs_duplication": None, "duplication_se": None, "clears": None, "vs_top": None,
                      "standard_error": None, "within_noise": None, "seeds": None, "chosen": True}]


def test_mix_section_shows_the_validation_curve_reason_and_rows_shipped(base_html, metrics, tmp_path):
    html = base_html
    section = _section(html, '<h2 id="mix">')
    assert "<strong>Shipped: dose 1, weight 0.5.</strong> Why: dose 1, weight 0.5: 0.861 on validation" in section
    assert ("Classes allowed synthetic rows (label agreement at least 0.7): digit-1, digit-2, digit-3, digit-5, "
            "digit-6, digit-7, digit-8, digit-9. Not allowed (recognised too rarely): digit-4.") in section
    rows = _table_cells(section, "mix-curve")
    assert len(rows) == 7 and rows[0][:3] == ["0 (duplication only)", "1", "0"]
    assert rows[4] == ["1", "0.5", "210", "0.861", "+0.019", "0.004", "yes", "-0.005", "0.006", "yes (chosen)", "2"]
    body = section.split('<table id="mix-curve">', 1)[1].split("</table>", 1)[0]
    assert re.findall(r"<tr( class=\"chosen\")?>", body) == [""] * 5 + [' class="chosen"'] + [""] * 2  # header first
    curve, room, shipped = (_decode(p) for p in IMG_RE.findall(section))
    assert room.size == Image.open(io.BytesIO(headroom_png(typed(metrics)))).size
    assert curve.size == Image.open(io.BytesIO(mix_curve_png(typed(metrics)))).size
    assert shipped.size == Image.open(io.BytesIO(distribution_png(typed(metrics)))).size
    assert 'alt="training rows per class: real, synthetic and duplicated"' in section

    fixed_policy(metrics)  # no curve: no curve plot or table, the reason still said
    section = _section(_render(metrics, tmp_path), '<h2 id="mix">')
    assert mix_curve_png(typed(metrics)) is None and 'id="mix-curve"' not in section
    assert "Policy <strong>fixed</strong>" in section and "Why: mix.policy is fixed: dose 1, weight 1." in section
    assert len(IMG_RE.findall(section)) == 1


def test_distribution_stacks_real_synthetic_and_duplicated_rows(metrics):
    from gan_aug.report.mix_plots import distribution_png as plot

    image = Image.open(io.BytesIO(plot(typed(metrics))))
    assert image.size[0] > 2 * image.size[1]
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    for colour in ("#4c72b0", "#dd8452", "#b8b8b8"):  # real, synthetic, duplicated all drawn
        rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        assert (np.abs(pixels.astype(int) - rgb).sum(axis=1) < 6).sum() > 500, colour
    for entry in metrics["classes"]:  # synthetic rows filled every class: nothing duplicated, no grey bars
        entry.update(used=entry["needed"], duplicates=0)
    pixels = np.asarray(Image.open(io.BytesIO(plot(typed(metrics)))).convert("RGB")).reshape(-1, 3)
    assert (np.abs(pixels.astype(int) - [184, 184, 184]).sum(axis=1) < 6).sum() < 100


def test_report_sample_grids_show_8px_images_at_least_48px_wide(base_html):
    html = base_html
    card = re.search(r'<div class="grid-card">\s*<h3>0: digit-0</h3>.*?</div>\s*</div>', html, re.S).group(0)
    (img,) = re.findall(r"<img[^>]*>", card)
    assert 'class="samples"' in img and "image-rendering: pixelated" in html
    grid = _decode(IMG_RE.findall(card)[0])
    per_image = (grid.size[0] - 2) // 4 - 2  # four a row, 2 px padding
    assert grid.size == (4 * 66 + 2, 4 * 66 + 2) and per_image >= 48
    pixels = np.asarray(grid.convert("L"))
    block = pixels[2:2 + per_image, 2:2 + per_image]  # the first image: 8×8 blocks of one value each
    assert all(len(np.unique(block[r:r + 8, c:c + 8])) == 1 for r in range(0, 64, 8) for c in range(0, 64, 8))


def test_the_verdict_says_the_headroom_and_the_mix_section_shows_its_curve(base_html, metrics, tmp_path):
    """The report opens with whether more real rare images could help and what the shipped rows are worth
    in real ones (the fixture's recall rises 10 points a doubling; the mix is worth about 118 real images),
    and the Mix section shows the curve, its points and its classes; a fixed mix says why there is none."""
    room = metrics["headroom"]
    verdict_box = base_html.split('id="verdict"', 1)[1].split("</div>", 1)[0]
    headroom = verdict_box.split('id="verdict-headroom">', 1)[1].split("</span>", 1)[0]
    assert headroom.startswith("More real images of the rare classes would help: each doubling of their 299 real rows")
    assert "The 210 shipped synthetic rows did as much as about 118 more real images would [+40, +259]" in headroom
    section = _section(base_html, '<h2 id="mix">')
    assert room["says"] in section.replace("&#39;", "'")
    points = _table_cells(section, "headroom-curve")
    assert [row[:3] for row in points] == [["0.25", str(room["real_rows"][0]), f"{room['score'][0]:.3f}"],
                                           ["0.5", str(room["real_rows"][1]), f"{room['score'][1]:.3f}"],
                                           ["1", "299", "0.750"]]
    classes = _table_cells(section, "headroom-classes")
    assert [row[0] for row in classes] == [f"digit-{k}" for k in range(1, 10)]
    assert classes[-1][1] == "2, 3, 6"  # digit-9's 6 real rows cut to ¼ and ½
    assert classes[-1][5].startswith("cannot tell")  # 20 validation images of one class: too wide
    assert verdict_text(typed(metrics)).endswith("(beside the 299 real ones; 95% interval, validation).")

    fixed = _render(fixed_policy(metrics), tmp_path)
    assert 'id="headroom"' not in fixed and headroom_png(typed(metrics)) is None
    assert ("Headroom not measured: the mix is fixed (mix.policy fixed), so no validation runs were made to build "
            "it beside.") in fixed
