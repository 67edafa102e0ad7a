"""Queued experiments on a small machine: `dvc queue start -j 1` against `-j 2`, with torch's
default threads and with one thread per worker (``OMP_NUM_THREADS=1``).

Each arm clones this repository (HEAD) afresh, so no run cache is shared, applies a profile
(default ``tiny``), queues one full run per seed (``-S seed=...``: every stage runs) and times
``dvc queue start`` until the queue is empty. Prints a markdown table and each arm's ratio to
the serial one. Run it with nothing else on the machine.

    python bench/workers.py --seeds 1 2
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARMS = (  # (label, workers, environment overrides)
    ("-j 1, torch's default threads", 1, {}),
    ("-j 2, torch's default threads", 2, {}),
    ("-j 2, OMP_NUM_THREADS=1", 2, {"OMP_NUM_THREADS": "1"}),
)


def _run(args: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {cwd}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def timed_queue(clone: Path, env: dict, *, workers: int, seeds: list[int]) -> float:
    """Queue one experiment per seed in ``clone`` and time running them with ``workers``."""
    _run(["dvc", "exp", "run", "--queue", "-S", f"seed={','.join(map(str, seeds))}"], clone, env)
    log = clone / "queue.log"
    start = time.monotonic()
    with open(log, "w") as out:  # workers outlive `dvc queue start`: a file, never a pipe
        subprocess.run(
            ["dvc", "queue", "start", "-j", str(workers)], cwd=clone, env=env, stdout=out,
            stderr=subprocess.STDOUT, check=True,
        )  # fmt: skip
        while True:
            status = _run(["dvc", "queue", "status"], clone, env)
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(5)
    elapsed = time.monotonic() - start
    if "Failed" in status or status.count("Success") != len(seeds):
        raise SystemExit(f"queue in {clone} did not succeed:\n{status}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="tiny", help="profiles/<name>.yaml to apply first")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    path = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"
    rows = []
    for label, workers, extra in ARMS:
        with tempfile.TemporaryDirectory() as work:
            clone = Path(work) / "clone"
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
            env.update(PATH=path, PYTHONPATH=str(clone), **extra)
            _run([sys.executable, "-m", "labelnoise.profiles", args.profile], clone, env)
            _run(["git", "commit", "-qam", "profile"], clone, env)
            seconds = timed_queue(clone, env, workers=workers, seeds=args.seeds)
        rows.append((label, seconds))
        print(f"{label}: {seconds:.0f} s", flush=True)
    serial = rows[0][1]
    print(
        f"\n{len(args.seeds)} queued `{args.profile}` runs (seeds {args.seeds}), "
        f"{os.cpu_count()} CPU cores:\n"
    )
    print("| queue | wall time (s) | vs `-j 1` |")
    print("|---|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.0f} | {seconds / serial:.2f}× |")


if __name__ == "__main__":
    main()
