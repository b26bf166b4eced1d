"""Run every benchmark module (or the ones named) and write ``benchmarks/results/<name>.json``.

Usage: ``python -m benchmarks [NAME ...]`` where NAME is e.g. ``diffusion`` for ``bench_diffusion.py``.
"""

import importlib
import json
import platform
import sys
import time
from pathlib import Path

from motion_diffusion.motion.files import write_text

HERE = Path(__file__).parent


def main(argv=None) -> None:
    names = argv if argv is not None else sys.argv[1:]
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if names:
        unknown = [n for n in names if f"bench_{n}" not in modules]
        if unknown:
            raise SystemExit(f"unknown benchmark(s) {unknown}; available: {[m[6:] for m in modules]}")
        modules = [f"bench_{n}" for n in names]
    for module in modules:
        print(f"== {module}", flush=True)
        start = time.perf_counter()
        result = importlib.import_module(f"benchmarks.{module}").run()
        result["_meta"] = {
            "machine": platform.machine(),
            "processor": platform.processor(),
            "python": platform.python_version(),
            "wall_seconds": round(time.perf_counter() - start, 2),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        out = HERE / "results" / f"{module[6:]}.json"
        write_text(out, json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        print(f"-> {out}")


if __name__ == "__main__":
    main()
