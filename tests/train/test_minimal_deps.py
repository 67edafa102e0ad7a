"""labelnoise.train needs torch, torchvision and numpy only: a bare GPU machine can train."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Everything else the project installs; None in sys.modules makes `import name` fail.
SCRIPT = """
import sys
for name in ("pandas", "sklearn", "scipy", "dvc", "dvclive", "pydantic", "ruamel", "tqdm",
             "cleanlab", "matplotlib", "statsmodels"):
    sys.modules[name] = None
import importlib.util
import numpy as np
from labelnoise.train import TrainConfig, fit, fit_stacked, predict_proba

rng = np.random.default_rng(0)
images = rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
labels = rng.integers(0, 2, 40)
config = TrainConfig(width=4, depth=1, epochs=1, device="cpu")
model = fit(images, labels, n_classes=2, config=config, seed=0, progress=False).model
assert predict_proba(model, images).shape == (40, 2)
rows = [np.arange(0, 30), np.arange(10, 40)]
assert len(fit_stacked(images, labels, rows, n_classes=2, config=config, seeds=[0, 1])) == 2
spec = importlib.util.spec_from_file_location("bench_folds", "bench/folds.py")
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print("ok")
"""


def test_train_and_bench_import_without_the_pipeline_dependencies():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"
