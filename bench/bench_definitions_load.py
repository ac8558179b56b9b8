"""Loading the lake's Dagster definitions in a fresh interpreter, against importing Dagster alone.

Every process that serves the lake loads the definitions first: the code server, the daemon, each run's
process, `dagster asset materialize`, `lake status`. The figure is the wall time of a fresh
``python -c "import lake_assets.definitions"`` (best of ``--repeat``); the baseline, in the same run, is a
fresh ``python -c "import dagster"``: the floor no definitions module can go under. ``--top`` prints the
modules whose imports took longest (``-X importtime``, cumulative). ``--also DIR`` loads another checkout's
package too (e.g. ``git worktree add /tmp/old REV``), in the same run, for a before/after figure.

    .venv/bin/python bench/bench_definitions_load.py [--repeat 5] [--top 8] [--also /tmp/old]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time


def wall(code: str, env: dict[str, str], cwd: str, src: str | None = None) -> float:
    """One fresh interpreter running ``code`` (with ``src`` first on its path: another checkout)."""
    if src:
        code = f"import sys; sys.path.insert(0, {src!r}); {code}"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def slowest_imports(env: dict[str, str], cwd: str, top: int) -> list[tuple[float, str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import lake_assets.definitions"],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            depth = (len(name) - len(name.lstrip())) // 2
            if depth <= 2:  # the definitions module and what it imports directly (and one level below)
                rows.append((int(parts[1]) / 1e6, name.strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--top", type=int, default=8)
    parser.add_argument("--also", help="another checkout's root, loaded the same way (before/after)")
    args = parser.parse_args()
    load = "import lake_assets.definitions"
    with tempfile.TemporaryDirectory(prefix="bench_defs_") as lake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "AWS_"))}
        env["LAKE_ROOT"] = lake
        for src in (None, args.also) if args.also else (None,):  # warm the file cache and .pyc files once
            wall(load, env, lake, src)
        base, defs, other = [], [], []
        for _ in range(args.repeat):  # interleaved, so a change of load hits all alike
            base.append(wall("import dagster", env, lake))
            defs.append(wall(load, env, lake))
            if args.also:
                other.append(wall(load, env, lake, args.also))
        top = slowest_imports(env, lake, args.top)
    print(
        f"definitions load, Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}, best of {args.repeat} fresh processes"
    )
    floor = min(base)
    print(f"  import dagster (baseline)          {floor:6.2f} s")
    print(f"  import lake_assets.definitions     {min(defs):6.2f} s   ratio {min(defs) / floor:.2f}x")
    if other:
        print(f"  the same from {args.also}: {min(other):6.2f} s   ratio {min(other) / floor:.2f}x")
    print("slowest imports (cumulative s, -X importtime):")
    for seconds, name in top:
        print(f"  {seconds:6.2f}  {name}")


if __name__ == "__main__":
    main()
