"""The report: self-contained HTML, escaped user text, and the same numbers in every summary."""
from __future__ import annotations

import base64
import copy
import io
import re

import numpy as np
import pytest
from PIL import Image

from gan_aug.report import (
    class_table_rows,
    comparison_table_rows,
    distribution_png,
    downstream_table_rows,
    filter_table_rows,
    funnel_png,
    quality_table_rows,
    render_report,
    sample_grid_png,
    summary_markdown,
)
from gan_aug.report.plots import confusion_figure, row_normalised
from report_fixtures import (
    FILTERS,
    METHODS,
    NEW_CLASS_KEYS,
    add_provenance,
    make_metrics,
    rejected_images,
)
from report_fixtures import images as _images
from report_fixtures import training as _training

IMG_RE = re.compile(r'<img[^>]*\ssrc="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture
def metrics() -> dict:
    """A realistic metrics.json for a long-tailed digits run, one class left short of its target."""
    return make_metrics()


def _judge(metrics: dict, label: int, status: str, ratio: float) -> dict:
    """FD acceptance found the class's samples too far from its real images: flag it or drop its rows."""
    entry = metrics["classes"][label]
    entry.update(acceptance=status, fd_ratio=ratio, fd_matched=round(ratio * entry["fd_floor"], 3))
    if status == "dropped":
        entry.update(used=0, final=entry["real"])
    metrics["filters"].update({"fd_policy": "drop" if status == "dropped" else "warn", status: [label]})
    return entry


def _old_style(metrics: dict) -> dict:
    """metrics.json as written before the filters and FD acceptance were reported."""
    for entry in metrics["classes"]:
        for key in NEW_CLASS_KEYS:
            entry.pop(key, None)
    del metrics["filters"]
    return metrics


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
    path = render_report(metrics, *_images(metrics), tmp_path / "report.html")
    assert path == tmp_path / "report.html" and path.is_file()
    return path.read_text(encoding="utf-8")


def _class_row(html: str, label: int, name: str) -> str:
    return _table_row(html, "classes", label, name)


def test_report_holds_every_class_method_and_number(metrics, tmp_path):
    html = _render(metrics, tmp_path)
    for name in metrics["dataset"]["class_names"]:
        assert f"<td>{name}</td>" in html
    for method in METHODS:
        assert f"<td>{method}</td>" in html or f"<td>{method} (best baseline)</td>" in html  # downstream
        assert f"<th>{method}</th>" in html  # recall table
    for number in ("0.812", "0.835", "0.867", "0.803", "+0.055", "-0.005", "+0.019", "95.2 s"):
        assert number in html
    assert "oversampled (best baseline)" in html and "[+0.011, +0.054]" in html.split('id="comparison"', 1)[1]
    assert "[0.801, 0.823]" in html  # the plain method's balanced-accuracy interval over seeds
    rare_recall = metrics["downstream"]["methods"]["gan"]["per_class_recall"][9]
    assert f"{rare_recall:.3f}" in html.split('<table id="recall">', 1)[1]
    for value in metrics["run"].values():
        assert str(value) in html


def test_report_images_are_inline_pngs_and_nothing_is_external(metrics, tmp_path):
    html = _render(metrics, tmp_path)
    payloads = IMG_RE.findall(html)
    with_synthetic = sum(1 for c in metrics["classes"] if c["used"])
    # distribution, grids, funnel, confusion matrices
    assert len(payloads) == 1 + len(metrics["classes"]) + with_synthetic + 1 + 1
    assert len(payloads) == html.count("<img")
    for payload in payloads:
        image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
        image.load()
        assert image.format == "PNG" and min(image.size) >= 32
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "<script" not in html


def test_report_states_synthetic_and_dashes_missing_values(metrics, tmp_path):
    html = _render(metrics, tmp_path)
    assert "Synthetic rows are synthetic" in html and "is_synthetic" in html
    assert "None" not in html
    row = _class_row(html, 0, "digit-0")
    assert row.count("<td class=\"num\">—</td>") == 2  # D threshold and FD
    assert "-0.370" in _class_row(html, 9, "digit-9") and "13.90" in _class_row(html, 9, "digit-9")
    assert 'class="short"' in _class_row(html, 8, "digit-8")
    assert 'class="short"' not in _class_row(html, 9, "digit-9")


def test_class_without_synthetic_samples_shows_only_real_grid(metrics, tmp_path):
    html = _render(metrics, tmp_path)
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
    text = summary_markdown(metrics)
    for method, scores in metrics["downstream"]["methods"].items():
        low, high = scores["ci"]["balanced_accuracy"]
        row = (f"| {method} | {scores['accuracy']:.3f} | {scores['balanced_accuracy']:.3f} | "
               f"{scores['macro_f1']:.3f} | {scores['g_mean']:.3f} | [{low:.3f}, {high:.3f}] | {scores['train_rows']} |")
        assert re.search(rf"^{re.escape(row)}$", text, re.M), row
    assert "| gan vs oversampled | +0.032 | [+0.011, +0.054] | 0.021 | 3/3 |" in text
    assert "| 0 | digit-0 | 126 | 126 | 0 | 0 | 0 | 126 | — | — |" in text
    assert "| 9 | digit-9 | 6 | 126 | 180 | 120 | 120 | 126 | -0.370 | 13.90 |" in text
    assert "Short of target (generation budget ran out): digit-8 (18)." in text
    assert "Filters in order: discriminator → label → memorisation." in text
    assert ("| 9 | digit-9 | 120 | 180 | 150 (83%) | 130 (72%) | 120 (67%) | 120 | — | unjudged |" in
            text.split("## Filters", 1)[1])
    assert "| 5 | digit-5 | 103 | 154 | 128 (83%) | 111 (72%) | 103 (67%) | 103 | 1.50 | ok |" in text
    assert "| 0 | digit-0 |" not in text.split("## Filters", 1)[1]  # nothing synthesised, no funnel
    assert ("FD acceptance unjudged: digit-8 (8 real images, fewer than the 10 needed to judge); "
            "digit-9 (6 real images, fewer than the 10 needed to judge).") in text
    assert "None" not in text


def test_summary_markdown_keeps_table_shape_with_pipes_in_names(metrics):
    metrics["classes"][2]["name"] = "a|b <i>"
    line = next(l for l in summary_markdown(metrics).splitlines() if l.startswith("| 2 |"))
    assert "a\\|b &lt;i&gt;" in line
    assert len(re.findall(r"(?<!\\)\|", line)) == 11  # 10 columns


def test_table_rows(metrics):
    rows = downstream_table_rows(metrics)
    assert [r["method"] for r in rows] == list(METHODS)
    assert all(set(r) == {"method", "accuracy", "balanced_accuracy", "macro_f1", "g_mean", "train_rows",
                          "balanced_accuracy_ci_low", "balanced_accuracy_ci_high"} for r in rows)
    assert rows[2]["balanced_accuracy"] == 0.8671 and rows[0]["train_rows"] == 425
    assert (rows[0]["balanced_accuracy_ci_low"], rows[0]["balanced_accuracy_ci_high"]) == (0.8012, 0.8234)
    comparison = comparison_table_rows(metrics)
    assert comparison == [{"comparison": "gan vs oversampled", "metric": "balanced accuracy", "difference": 0.0324,
                           "ci_low": 0.0112, "ci_high": 0.0536, "p_value": 0.021, "wins": "3/3"}]

    classes = class_table_rows(metrics)
    assert [c["label"] for c in classes] == list(range(10))
    expected = {"label", "name", "real", "target", "needed", "generated", "accepted", "used", "final",
                "d_threshold", "fd", "acceptance", "short_by"}
    assert all(set(c) == expected for c in classes)
    assert [c["short_by"] for c in classes] == [0] * 8 + [18, 0]
    assert classes[0]["fd"] is None and classes[9]["fd"] == pytest.approx(13.9)


def test_sample_grid_upscales_with_nearest_and_caps_samples():
    image = np.arange(64, dtype=np.uint8).reshape(1, 1, 8, 8) * 3
    grid = np.asarray(Image.open(io.BytesIO(sample_grid_png(image))))
    assert grid.shape == (32, 32, 3)  # 8 px × 4; make_grid adds no padding around a single image
    np.testing.assert_array_equal(grid[..., 0], np.kron(image[0, 0], np.ones((4, 4), np.uint8)))

    many = np.random.default_rng(0).integers(0, 256, (40, 3, 8, 8), dtype=np.uint8)
    assert Image.open(io.BytesIO(sample_grid_png(many))).size == (8 * 34 + 2, 2 * 34 + 2)
    assert sample_grid_png(np.zeros((0, 1, 8, 8), np.uint8)) is None


def test_distribution_png_renders(metrics):
    image = Image.open(io.BytesIO(distribution_png(metrics)))
    image.load()
    assert image.format == "PNG" and image.size[0] > image.size[1]


def test_quality_table_shows_each_distance_beside_its_floor(metrics, tmp_path):
    entry = metrics["classes"][5]
    entry.update(fd=12.345, fd_floor=4.321, fd_ci_low=10.5, fd_ci_high=15.25, kid=0.0123, kid_floor=-0.002,
                 kid_ci_low=0.0071, kid_ci_high=0.0189, fd_matched=7.777, fd_ratio=1.8,
                 precision=0.75, recall=0.5, density=0.9, coverage=0.6)
    rows = quality_table_rows(metrics)
    assert [row["label"] for row in rows] == [c["label"] for c in metrics["classes"] if c["used"]]
    assert 0 not in [row["label"] for row in rows]  # class 0 needed nothing: no quality row
    assert {k: rows[4][k] for k in ("kid_ci_low", "kid_ci_high", "fd_matched", "fd_ratio", "acceptance")} == {
        "kid_ci_low": 0.0071, "kid_ci_high": 0.0189, "fd_matched": 7.777, "fd_ratio": 1.8, "acceptance": "ok"}
    row = _table_row(_render(metrics, tmp_path), "quality", 5, "digit-5")
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[4:13] == ["12.35", "10.50 – 15.25", "4.32", "7.78", "1.80",
                           "<strong>ok</strong>", "0.012", "0.007 – 0.019", "-0.002"]


@pytest.mark.parametrize("status, policy, kept", [("dropped", "drop", False), ("flagged", "warn", True)])
def test_class_failing_fd_acceptance_is_marked_with_its_ratio(metrics, tmp_path, status, policy, kept):
    entry = _judge(metrics, 7, status, 6.25)
    rows = {row["label"]: row for row in quality_table_rows(metrics)}
    assert rows[7]["used"] == (entry["needed"] if kept else 0)  # a dropped class keeps its quality row
    assert rows[7]["fd_ratio"] == 6.25 and rows[7]["acceptance"] == status and rows[7]["fd"] == entry["fd"]
    assert filter_table_rows(metrics)[6]["acceptance"] == status

    html = _render(metrics, tmp_path)
    reason = ("matched FD / floor 6.25 &gt; limit 4.0; "
              + ("policy warn: rows kept" if kept else "policy drop: synthetic rows removed"))
    for table in ("quality", "funnel"):
        row = _table_row(html, table, 7, "digit-7")
        assert row.startswith(f'<tr class="{status}">') and f"<strong>{status}</strong>: {reason}" in row
    assert "6.25" in _table_row(html, "quality", 7, "digit-7")
    assert '<tr class="ok">' not in html and "<strong>ok</strong>: " not in _section(html, "<h2>Sample quality")
    assert f"(policy {policy})" in _section(html, 'id="filters"')
    assert ("short of target: synthetic rows dropped" in _class_row(html, 7, "digit-7")) == (not kept)

    text = summary_markdown(metrics)
    assert f"FD acceptance {status}: digit-7 ({reason})." in text
    assert "Short of target (generation budget ran out): digit-8 (18)." in text  # not digit-7: not the budget


def test_filters_section_lists_each_funnel_with_thresholds(metrics, tmp_path):
    html = _render(metrics, tmp_path)
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
        assert cells[2:7] == [str(entry["needed"]), str(generated),
                              *(f"{entry['funnel'][f]} ({100 * entry['funnel'][f] / generated:.0f}%)" for f in FILTERS)]
        assert cells[7] == str(entry["used"])
        d = entry["filters"]["discriminator"]
        assert cells[9:] == [f"{d['threshold']:.3f} (q 0.05; {d['calibration']}, {d['calibration_images']} images)",
                             "0.500", f"{entry['filters']['memorisation']['threshold']:.3f} (q 0.05)"]
    assert _table_row(section, "funnel", 9, "digit-9").startswith('<tr class="unjudged">')
    assert "6 real images, fewer than the 10 needed to judge" in _table_row(section, "funnel", 9, "digit-9")
    assert '<td class="num">0</td><td>digit-0</td>' not in section
    assert "pooled: held-out images of every class" in section
    payloads = IMG_RE.findall(section)
    assert len(payloads) == 1
    plot = _decode(payloads[0])
    assert plot.size == Image.open(io.BytesIO(funnel_png(metrics))).size

    more = copy.deepcopy(metrics)  # 20 classes: the plot grows a row per class instead of squeezing them
    more["classes"] += [{**copy.deepcopy(c), "label": c["label"] + 10} for c in metrics["classes"]]
    tall = Image.open(io.BytesIO(funnel_png(more)))
    assert tall.size[0] == plot.size[0] and tall.size[1] - plot.size[1] >= 9 * 30  # 30 px or more per class


def test_filter_table_rows_equal_the_funnel(metrics):
    rows = filter_table_rows(metrics)
    synthesised = [c for c in metrics["classes"] if c["funnel"]]
    assert [row["label"] for row in rows] == [c["label"] for c in synthesised] == list(range(1, 10))
    stages = ["generated", "passed_discriminator", "passed_label", "passed_memorisation"]
    for row, entry in zip(rows, synthesised):
        assert list(row)[:7] == ["label", "name", "needed", *stages]
        assert [row[key] for key in stages] == list(entry["funnel"].values())
        assert row["accepted"] == list(entry["funnel"].values())[-1] and row["used"] == entry["used"]
        assert row["acceptance"] == entry["acceptance"] and row["fd_ratio"] == entry["fd_ratio"]
        assert row["discriminator_threshold"] == entry["filters"]["discriminator"]["threshold"]
        assert row["label_threshold"] == 0.5
        assert row["memorisation_threshold"] == entry["filters"]["memorisation"]["threshold"]
        assert row["discriminator_calibration"] == entry["filters"]["discriminator"]["calibration"]
    assert rows[8]["generated"] == 180 and rows[8]["passed_label"] == 130 and rows[8]["acceptance"] == "unjudged"


def test_rejected_samples_show_per_filter_in_filter_order(metrics, tmp_path):
    rejected = rejected_images()
    assert 'class="rejected"' not in _render(metrics, tmp_path)
    path = render_report(metrics, *_images(metrics), tmp_path / "report.html", rejected_images=rejected)
    html = path.read_text(encoding="utf-8")
    cards = {int(m.group(1)): m.group(0) for m in re.finditer(
        r'<div class="grid-card">\s*<h3>(\d+): .*?</div>\s*</div>', html, re.S)}
    figures = re.findall(r'<figure class="rejected"><img src="data:image/png;base64,([^"]+)" '
                         r'alt="samples of class digit-9 rejected by the (\w+) filter">'
                         r"<figcaption>rejected by (\w+)</figcaption>", cards[9])
    assert [(alt, caption) for _, alt, caption in figures] == [("discriminator", "discriminator"),
                                                               ("memorisation", "memorisation")]
    sizes = [_decode(payload).size for payload, _, _ in figures]
    assert sizes == [(8 * 34 + 2, 2 * 34 + 2), (3 * 34 + 2, 34 + 2)]  # at most 16 per filter
    assert cards[5].count('class="rejected"') == 1 and "<figcaption>rejected by label</figcaption>" in cards[5]
    assert all("rejected" not in cards[label] for label in cards if label not in (5, 9))


@pytest.mark.parametrize("strip", ["everything", "top_level"])
def test_metrics_without_filter_fields_still_render(metrics, tmp_path, strip):
    if strip == "everything":
        _old_style(metrics)
    else:
        del metrics["filters"]
    html = _render(metrics, tmp_path)  # StrictUndefined: any missing key the template reads would raise
    assert "None" not in html
    quality = [c["label"] for c in metrics["classes"] if c["used"]]
    assert [row["label"] for row in quality_table_rows(metrics)] == quality
    assert '<td class="num">-0.370</td>' in _class_row(html, 9, "digit-9")
    text = summary_markdown(metrics)
    assert "None" not in text
    if strip == "everything":
        assert 'id="filters"' not in html and funnel_png(metrics) is None and filter_table_rows(metrics) == []
        assert "## Filters" not in text
        cells = re.findall(r"<td[^>]*>(.*?)</td>", _table_row(html, "quality", 9, "digit-9"), re.S)
        assert cells[7:10] + cells[11:12] == ["—"] * 4  # matched FD, ratio, acceptance, KID interval
        assert cells[6] == "6.50" and cells[10] == "0.090"  # floor and KID, as before
    else:  # the order comes from the funnels, and each class still carries its own status
        section = _section(html, 'id="filters"')
        assert "Above the limit the class is flagged or dropped, as the run&#39;s policy says." in section
        assert "digit-9 (too few real images to judge)" in text
        assert [k for k in filter_table_rows(metrics)[0] if k.endswith("_threshold")] == [
            f"{name}_threshold" for name in FILTERS]


@pytest.mark.parametrize("strategy, panels", [("shared", 1), ("per_class", 2)])
def test_training_curves_show_losses_and_fd_per_trained_gan(metrics, tmp_path, strategy, panels):
    from gan_aug.report import training_curves_png

    assert training_curves_png(metrics) is None  # no training section: no figure, and the report still renders
    assert 'id="training"' not in _render(metrics, tmp_path)
    metrics["training"] = _training(strategy)
    image = Image.open(io.BytesIO(training_curves_png(metrics)))
    assert image.size[1] == pytest.approx(320 * panels, abs=2)  # one row of plots per trained GAN
    html = _render(metrics, tmp_path)
    section = html[html.index('id="training"'):html.index("<h2>Samples")]
    assert "stopped early" in section and "data:image/png;base64," in section
    assert ("one shared conditional GAN" in section) == (strategy == "shared")


def _panels(fig) -> list:
    """The confusion figure's matrix panels (the colour bar's axes hold no image)."""
    return [ax for ax in fig.axes if ax.images]


def test_confusion_section_shows_one_panel_per_method_with_a_matrix(metrics, tmp_path):
    html = _render(metrics, tmp_path)
    assert html.index('<table id="recall">') < html.index('<h3 id="confusion">') < html.index("<h2>Per class")
    section = html[html.index('<h3 id="confusion">'):html.index("<h2>Per class")]
    (img,) = re.findall(r"<img[^>]*>", section)
    assert 'alt="confusion matrices, rows normalised, for plain, oversampled, gan"' in img
    (payload,) = IMG_RE.findall(section)
    three = _decode(payload)

    fig = confusion_figure(metrics)
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
        assert len(ax.texts) == 100 and ax.texts[0].get_text() == f"{shown[0, 0]:.2f}"

    del metrics["downstream"]["methods"]["oversampled"]["confusion_matrix"]  # skipped, not drawn empty
    html = _render(metrics, tmp_path)
    section = html[html.index('<h3 id="confusion">'):html.index("<h2>Per class")]
    assert 'alt="confusion matrices, rows normalised, for plain, gan"' in section
    assert [ax.get_title() for ax in _panels(confusion_figure(metrics))] == ["plain", "gan"]
    two = _decode(IMG_RE.findall(section)[0])
    assert two.size[1] == three.size[1] and two.size[0] < three.size[0] - 300  # one panel fewer


def test_confusion_cells_are_numbered_only_for_a_few_classes(metrics):
    for size, numbered in ((12, True), (13, False)):
        matrix = (np.eye(size, dtype=int) * 5 + 1).tolist()
        metrics["dataset"]["class_names"] = [f"c{i}" for i in range(size)]
        metrics["downstream"]["methods"] = {"plain": {"confusion_matrix": matrix},
                                            "gan": {"confusion_matrix": matrix}, "smote": {}}
        panels = _panels(confusion_figure(metrics))
        assert len(panels) == 2
        assert [len(ax.texts) for ax in panels] == ([size * size] * 2 if numbered else [0, 0])
        assert panels[0].get_xticklabels()[-1].get_text() == f"c{size - 1}"


def test_row_normalised_leaves_classes_without_test_images_blank():
    rates = row_normalised(np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]]))
    np.testing.assert_allclose(rates[[0, 2]], [[0.75, 0.25, 0.0], [0.25, 0.25, 0.5]])
    assert np.isnan(rates[1]).all()


@pytest.mark.parametrize("missing", ["downstream", "matrices"])
def test_no_confusion_section_without_matrices(metrics, tmp_path, missing):
    if missing == "downstream":
        del metrics["downstream"]
    else:  # metrics written before the runner kept the matrices
        for scores in metrics["downstream"]["methods"].values():
            del scores["confusion_matrix"]
    html = _render(metrics, tmp_path)
    assert confusion_figure(metrics) is None
    assert "Confusion matrices" not in html and 'id="confusion"' not in html
    assert ('id="recall"' in html) == (missing == "matrices")
    assert "None" not in html


def _provenance(html: str) -> str:
    return html[html.index('<h2 id="provenance">'):]


def _table_cells(html: str, table: str) -> list[list[str]]:
    body = html.split(f'<table id="{table}">', 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)][1:]


def test_provenance_shows_packages_seeds_checkpoints_and_shard_files(metrics, tmp_path):
    add_provenance(metrics)
    metrics["run"]["generator_sha256"] = None  # one GAN per class: no single checkpoint
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
    assert "images/SHA256SUMS" in section and "1512 files" in section

    generators = _table_cells(section, "generators")
    synthesised = [c for c in metrics["classes"] if c["used"]]
    assert generators == [[c["name"], "<code>" + f"{c['label']:02d}" * 32 + "</code>"] for c in synthesised]
    assert "<dt>generator sha256</dt><dd>one GAN per class (see the table below)</dd>" in section

    files = _table_cells(section, "shard-files")
    assert files == [
        ["train", "<code>shards/&lt;b&gt;train&lt;/b&gt;-00000-of-00001.parquet</code>", "1242", "1.65",
         '<code class="hash">' + "a" * 64 + "</code>"],
        ["validation", "<code>shards/validation-00000-of-00001.parquet</code>", "100", "0.10",
         '<code class="hash">' + "b" * 64 + "</code>"],
        ["test", "<code>shards/test-00000-of-00001.parquet</code>", "170", "0.17",
         '<code class="hash">' + "c" * 64 + "</code>"]]
    assert "<b>train</b>" not in section
    assert _table_cells(section, "shard-splits") == [["train", "1242", "425", "817", "1"],
                                                     ["validation", "100", "100", "0", "1"],
                                                     ["test", "170", "170", "0", "1"]]
    assert "validation and test hold real images only" in section

    snippet = re.search(r"<pre><code>(.*?)</code></pre>", section, re.S).group(1)
    assert "load_dataset(" in snippet and "&#34;parquet&#34;" in snippet
    for split in ("train", "validation", "test"):
        assert f"&#34;{split}&#34;: &#34;shards/{split}-*.parquet&#34;" in snippet
    assert "<code>gan-aug verify DIR</code> checks every checksum" in section


def test_provenance_with_a_shared_generator_and_partial_entries(metrics, tmp_path):
    add_provenance(metrics, per_class=False)
    metrics["run"]["generator_sha256"] = None  # older run sections: the shards' provenance has it
    files = metrics["shards"]["files"]
    del files[1]["bytes"], files[1]["sha256"]
    metrics["shards"]["image_folder"] = None
    section = _provenance(_render(metrics, tmp_path))
    assert 'id="generators"' not in section and "one GAN per class" not in section
    assert "<dt>generator sha256</dt><dd>" + "cd34" * 16 + "</dd>" in section
    assert _table_cells(section, "shard-files")[1][2:] == ["100", "—", '<code class="hash">—</code>']
    assert 'id="image-folder"' not in section and "each image in the image folder" not in section
    assert "None" not in section


@pytest.mark.parametrize("shards", ["counts_only", "empty", "missing"])
def test_provenance_without_manifest_details_still_renders(metrics, tmp_path, shards):
    if shards == "empty":
        metrics["shards"] = {}
    elif shards == "missing":
        del metrics["shards"]
    html = _render(metrics, tmp_path)
    section = _provenance(html)
    assert "<dt>config hash</dt><dd>ab12cd34ef56</dd>" in section  # the rows that were there before
    assert "<dt>splits</dt><dd>train 425, val 100, test 170</dd>" in section
    for absent in ('id="packages"', 'id="seeds"', 'id="generators"', 'id="shard-files"', 'id="shard-splits"',
                   'id="image-folder"', "content key"):
        assert absent not in section
    assert "&#34;validation&#34;: &#34;shards/validation-*.parquet&#34;" in section  # the default split names
    assert "None" not in html
    if shards != "counts_only":
        assert "(— synthetic of — rows)" in html
    assert "Synthetic rows are synthetic" in html
