"""``python -m offmem.worker run``: the worker in the foreground (hooks spawn this)."""

from __future__ import annotations

import sys

from offmem.worker.main import run


def main(argv: list[str]) -> int:
    if argv[:1] not in (["run"], []):
        print("usage: python -m offmem.worker run", file=sys.stderr)
        return 2
    run()  # another worker won the race: nothing to do
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
