"""Render the Vega-Lite specs of `dvc plots diff --json` to SVG files, offline.

dvc's own HTML loads its scripts from the network; vl-convert renders in-process instead.
Usage: dvc plots diff HEAD --json | python .ci/render_plots.py OUT_DIR
"""

import json
import re
import sys
from pathlib import Path

import vl_convert


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    diff = json.load(sys.stdin)
    # dvc 3 nests the plots under "data" (beside "errors" when some revision lacked a file).
    plots = diff.get("data", diff)
    written = 0
    for plot_id, renders in plots.items():
        for k, render in enumerate(renders):
            if render.get("type") != "vega" or "content" not in render:
                continue
            name = re.sub(r"[^A-Za-z0-9._-]+", "_", plot_id).strip("_")[:120]
            svg = vl_convert.vegalite_to_svg(render["content"])
            (out / f"{name}{'' if k == 0 else f'_{k}'}.svg").write_text(svg)
            written += 1
    print(f"{written} plot diffs rendered to {out}")


if __name__ == "__main__":
    main()
