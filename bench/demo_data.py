"""Demo data bench: generate the 100 000-call demo portal into a fresh state and time it.
Human lines go to stderr; the LAST stdout line is one JSON object {"calls": N, "seconds": S}."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from b24app.sandbox import demodata  # noqa: E402
from b24app.sandbox.settings import SandboxSettings  # noqa: E402
from b24app.sandbox.state import PortalState  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    state = PortalState(SandboxSettings(demo=True, demo_calls=args.calls, seed=args.seed))
    started = time.perf_counter()
    summary = demodata.generate(state, args.seed, args.calls)
    seconds = time.perf_counter() - started
    for key, value in summary.items():
        print(f"{key:>22}: {value}", file=sys.stderr)
    print(f"generated {len(state.calls)} calls in {seconds:.2f} s", file=sys.stderr)
    print(json.dumps({"calls": len(state.calls), "seconds": round(seconds, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
