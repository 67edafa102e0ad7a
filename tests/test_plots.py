"""The plots of ``dvc plots show``: the precision-recall table joined in curve order, and the page
DVC writes, which must draw every chart, charts before images, with no network."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import headless
import numpy as np
import pandas as pd
import pytest
from projects import dvc_project
from ruamel.yaml import YAML

from labelnoise import layout
from labelnoise.evaluate import pr_curve
from labelnoise.io import write_csv, write_json
from labelnoise.metrics import Grid
from labelnoise.params import read_yaml
from labelnoise.plots import pr_long

ROOT = Path(__file__).resolve().parents[1]
RATE = 0.2
LIBRARIES = ("vega", "vega-lite", "vega-embed")


def _pr_files(pr_dir: Path, flipped: np.ndarray, scores: dict[str, np.ndarray]) -> Grid:
    for method, method_scores in scores.items():
        record = {"rate": RATE, "method": method, "curve": pr_curve(flipped, method_scores)}
        write_json(layout.pr_file(pr_dir, RATE, method), record)
    return Grid(rates=(0.0, RATE), detected=tuple(scores), retrained=())


def _oracle_and_noisy(pr_dir: Path) -> Grid:
    rng = np.random.default_rng(0)
    flipped = np.arange(50) < 10
    noisy = flipped + rng.normal(0, 0.6, len(flipped))
    return _pr_files(pr_dir, flipped, {"oracle": flipped.astype(float), "cleanlab": noisy})


def test_pr_rows_are_numbered_in_curve_order(tmp_path):
    grid = _oracle_and_noisy(tmp_path)
    table = pr_long(tmp_path, rate=RATE, grid=grid)
    for method in grid.detected:
        rows = table[table["method"] == method]
        assert rows["point"].tolist() == list(range(len(rows)))
        curve = json.loads(layout.pr_file(tmp_path, RATE, method).read_text())["curve"]
        joined = rows.sort_values("point")[["recall", "precision"]].to_numpy().tolist()
        assert joined == [[p["recall"], p["precision"]] for p in curve]
    oracle = table[table["method"] == "oracle"].sort_values("point")
    # Everything flagged, then the flips alone (all found, all right), then nothing: an L.
    path = oracle[["recall", "precision"]].to_numpy().tolist()
    assert path == [[1.0, 0.2], [1.0, 1.0], [0.0, 1.0]]
    # Joined in the order of recall, the same points draw a diagonal from (0, 1) to (1, 0.2).
    by_recall = oracle.sort_values("recall", kind="stable")[["recall", "precision"]]
    assert by_recall.to_numpy().tolist() != path


def test_pr_plot_joins_its_points_by_their_number():
    stages = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]
    plots = {name: props for entry in stages["regress"]["plots"] for name, props in entry.items()}
    assert plots["plots/pr.csv"]["template"] == "curve"
    template = json.loads((ROOT / ".dvc" / "plots" / "curve.json").read_text())
    assert template["encoding"]["order"]["field"] == "point"
    # The other plots of the stage run along x (rate or epoch), where x order is curve order.
    others = {props["template"] for name, props in plots.items() if name != "plots/pr.csv"}
    assert others == {"by_method", "by_rate"}
    for name in others:
        assert "order" not in json.loads((ROOT / ".dvc" / "plots" / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def plots_page(tmp_path_factory):
    """``dvc plots show`` in a fresh project holding the committed plots, with a PR table of
    an oracle's L-shaped curve: ``(project, page, number of charts)``."""
    project = tmp_path_factory.mktemp("plots") / "project"
    env = dvc_project(project, read_yaml(ROOT / "params.yaml"))
    shutil.copytree(ROOT / "plots", project / "plots")
    grid = _oracle_and_noisy(project / "pr")
    write_csv(pr_long(project / "pr", rate=RATE, grid=grid), project / "plots" / "pr.csv")
    done = subprocess.run(
        ["dvc", "plots", "show", "-o", "dvc_plots"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    charts = len(list((project / "plots").rglob("*.csv")))
    return project, project / "dvc_plots" / "index.html", charts


def test_plots_page_inlines_its_scripts(plots_page):
    _, page, charts = plots_page
    html = page.read_text()
    sources = re.findall(r"<script\b[^>]*\bsrc\s*=\s*[\"']?([^\"'\s>]+)", html, re.IGNORECASE)
    assert not [src for src in sources if re.match(r"(https?:)?//", src)], sources
    assert "cdn.jsdelivr" not in html
    for name in LIBRARIES:
        assert re.search(rf"/\*! {name} \d+\.\d+\.\d+ .*BSD-3-Clause", html), name
    for global_name in (".vega={}", ".vegaLite={}", ".vegaEmbed="):
        assert global_name in html, global_name
    embeds = [m.start() for m in re.finditer(r"vegaEmbed\('#", html)]
    assert len(embeds) == charts
    # DVC puts image plots after the charts, whatever order dvc.yaml declares them in.
    assert max(embeds) < html.index("<img", html.index("<body"))


# The points of every line of a chart, in the order Vega joins them: the spec is drawn again
# without a canvas and its scene graph read.
LINE_POINTS = """async spec => {
    const {view} = await vegaEmbed(document.createElement('div'), spec, {renderer: 'none'});
    const lines = [];
    const walk = mark => {
        if (mark.marktype === 'line' && mark.items.length) {
            lines.push(mark.items.map(i => [i.datum.method, i.datum.recall, i.datum.precision]));
        }
        for (const item of mark.items || []) (item.items || []).forEach(walk);
    };
    walk(view.scenegraph().root);
    return lines;
}"""


def _spec(html: str, chart: str) -> dict:
    found = re.search(rf'<div id = "{chart}">\s*<script[^>]*>\s*var spec = (.*);\n', html)
    assert found, chart
    return json.loads(found.group(1))


def test_plots_page_draws_every_chart_offline_in_headless_chromium(plots_page, tmp_path):
    sync_playwright = headless.sync_playwright()
    project, page_path, charts = plots_page
    html = page_path.read_text()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(headless.CHROMIUM),
            headless=True,
            args=flags,
            offline=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            external, errors = headless.offline(page)
            page.goto(page_path.as_uri())
            drawn = ".vega-embed canvas, .vega-embed svg.marks"
            page.wait_for_function(
                f"document.querySelectorAll({json.dumps(drawn)}).length >= {charts}"
            )
            layout = page.evaluate(
                """() => ({
                    charts: [...document.querySelectorAll('.vega-embed')].map(d => ({
                        id: d.id,
                        drawn: !!d.querySelector('canvas, svg.marks'),
                        top: d.getBoundingClientRect().top,
                        height: d.getBoundingClientRect().height,
                    })),
                    images: [...document.images].map(i => ({
                        top: i.getBoundingClientRect().top, width: i.naturalWidth,
                    })),
                })"""
            )
            lines = page.evaluate(LINE_POINTS, _spec(html, "plots_pr_csv"))
        finally:
            context.close()
    assert external == [] and errors == []
    assert len(layout["charts"]) == charts
    assert all(c["drawn"] and c["height"] > 0 for c in layout["charts"]), layout["charts"]
    assert "plots_pr_csv" in {c["id"] for c in layout["charts"]}
    assert layout["images"] and all(i["width"] > 0 for i in layout["images"])
    lowest_chart = max(c["top"] + c["height"] for c in layout["charts"])
    assert lowest_chart <= min(i["top"] for i in layout["images"])
    # Each precision-recall line runs through its points in the table's order (CSV values
    # reach Vega as strings: "10" must not come before "2").
    table = pd.read_csv(project / "plots" / "pr.csv", dtype=str).sort_values(
        "point", key=lambda column: column.astype(int)
    )
    expected = {
        method: rows[["recall", "precision"]].to_numpy().tolist()
        for method, rows in table.groupby("method", sort=False)
    }
    drawn_lines = {line[0][0]: [point[1:] for point in line] for line in lines}
    assert drawn_lines == expected
    assert len(expected["cleanlab"]) > 10
