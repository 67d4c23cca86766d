"""Facts taught in ordinary sessions of the real Claude Code CLI: how many reach a later session?

The scenario is ``tests/support/usefulness.py`` (three projects, three scripted sessions
each, twelve facts among routine tool calls, one later session per fact whose prompt needs
it without naming it); ``tests/test_e2e_usefulness.py`` asserts on it. This bench plays it
once per configuration and prints, side by side, the share of facts that reached the first
model request (in the SessionStart block, the prompt-time block, either), per kind, and the
cross-project leaks.

Configurations: ``default`` (the shipped configuration: llama.cpp with the default model,
MiniLM) and ``rules`` (``backend = "rules"``), both with the models from
``offmem pull-models --defaults`` and a 3 s prompt-time box (the 300 ms box under load is
``bench_prompt_time.py``'s subject).

    python bench/bench_usefulness.py [--configs default rules] [--noise N] [--json] [--keep DIR]

Needs the CLI (``npm install --prefix .cache/node @anthropic-ai/claude-code@2.1.197``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.claude_cli import find_claude  # noqa: E402
from tests.support.fake_anthropic import FakeAnthropic  # noqa: E402
from tests.support.usefulness import OFFMEM_BIN, config_text, run_scenario, score  # noqa: E402

CONFIGS = ("default", "rules")


def pull_models(where: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFMEM_")}
    env.update(OFFMEM_HOME=str(where), HOME=str(where))
    done = subprocess.run([str(OFFMEM_BIN), "pull-models", "--defaults"], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"offmem pull-models --defaults failed:\n{done.stdout}\n{done.stderr}")
    return where / "models"


def one(config: str, root: Path, models: Path, claude: Path, noise: int = 0) -> dict:
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    with FakeAnthropic() as fake:
        outcomes, figures = run_scenario(root / config, fake, claude, config_text(models, rules=config == "rules"),
                                         log=lambda m: None, noise=noise)
    result = score(outcomes) | {
        "config": config, "noise": noise, "seconds": round(time.monotonic() - started, 1), **figures,
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
        "rows": [{"fact": o.fact.key, "kind": o.fact.kind, "start": o.start, "prompt": o.prompt, "leaks": o.leaks,
                  **({} if o.reached and not o.leaks else {"added": o.added})} for o in outcomes],
    }
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--keep", metavar="DIR", help="play in DIR and keep it (homes, projects, databases, logs)")
    ap.add_argument("--noise", type=int, default=0, metavar="N",
                    help="N more routine sessions per project after the teaching ones (crowds the SessionStart block)")
    args = ap.parse_args(argv)
    claude = find_claude()
    if claude is None:
        raise SystemExit("Claude Code CLI not found (see tests/support/claude_cli.py)")
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="offmem-usefulness-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        models = pull_models(root / "models-home")
        results = [one(c, root, models, claude, args.noise) for c in args.configs]
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    kinds = sorted({k for r in results for k in r["by_kind"]})
    print(f"{'config':<8} {'reached':>7} {'start':>6} {'prompt':>6} " + " ".join(f"{k:>8}" for k in kinds)
          + f" {'leaks':>5} {'obs':>4} {'seconds':>7}  load before -> after  missed")
    for r in results:
        print(f"{r['config']:<8} {r['reached']:>7.2f} {r['start']:>6.2f} {r['prompt']:>6.2f} "
              + " ".join(f"{r['by_kind'][k]:>8.2f}" for k in kinds)
              + f" {r['leaks']:>5} {r['observations']:>4} {r['seconds']:>7.0f}  "
              f"{r['load_before']:.2f} -> {r['load_after']:.2f}  {', '.join(r['missed']) or '-'}")
    print(f"({results[0]['facts']} facts, 3 projects, {args.noise} routine sessions per project after the "
          "teaching ones; reached = in SessionStart or prompt-time block of the later session's first request)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
