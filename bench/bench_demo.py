"""``lake demo`` end to end: wall time and peak memory of the whole process tree, JVM included.

The demo is what a newcomer runs first, so its cost is the laptop's cost: the ``lake`` process, the
``dagster asset materialize`` it starts, that run's step processes and Spark's JVM. Every 0.2 s the bench
walks /proc for all descendants of the demo and sums their RSS (what the targets are stated in) and their
PSS (shared pages split between the processes that map them, so closer to what the machine really holds).
Each size runs with a temporary ``LAKE_ROOT`` and ``--dagster-home`` so the repo's ``.lake`` and
``.dagster_home`` are left alone. Note: the demo itself writes its sample file to the repo's ``.demo/``.

    .venv/bin/python bench/bench_demo.py [EVENTS ...] [--days 3]     # default: 120000
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")
INTERVAL = 0.2


def _read(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:  # the process ended between listing and reading
        return None


def process_tree(root: int) -> dict[int, int]:
    """``root`` and all its descendants (pid -> parent pid), from the parent ids in /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = _read(f"/proc/{name}/stat")
        if stat is None:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])  # after the command name, which may hold spaces
        children.setdefault(ppid, []).append(int(name))
    tree, todo = {root: 0}, [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            tree[child] = pid
            todo.append(child)
    return tree


def label(pid: int, comm: str) -> str:
    """Which process this is: the kernel's name plus the start of its command line."""
    cmdline = (_read(f"/proc/{pid}/cmdline") or "").split("\0")
    words = [Path(cmdline[0]).name] if cmdline and cmdline[0] else []
    if "org.apache.spark.deploy.SparkSubmit" in cmdline:
        words.append("SparkSubmit")
    else:
        words += [Path(w).name if "/" in w else w for w in cmdline[1:4] if w]
    return f"{pid} {comm}: {' '.join(words)}"[:70]


def memory(pid: int, statm: str) -> tuple[str, int, int] | None:
    """(label, RSS bytes, PSS bytes) of one process, or None once it has gone."""
    comm = _read(f"/proc/{pid}/comm")
    if comm is None:
        return None
    rss = int(statm.split()[1]) * PAGE
    pss = 0
    rollup = _read(f"/proc/{pid}/smaps_rollup") or ""
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            pss = int(line.split()[1]) * 1024
            break
    return label(pid, comm.strip()), rss, pss


def same_address_space(child: str, parent: str | None) -> bool:
    """Same virtual size and RSS within 1 %: a vfork (or just-forked) child still on the parent's pages."""
    if parent is None:
        return False
    (c_size, c_rss), (p_size, p_rss) = (map(int, s.split()[:2]) for s in (child, parent))
    return c_size == p_size and abs(c_rss - p_rss) <= p_rss // 100


@dataclass
class Sampler:
    """Samples the tree every ``INTERVAL`` s in a thread until the demo exits; keeps the peaks.

    A child with its parent's virtual size and RSS is taken to share the parent's pages (the JVM starts
    helper commands with vfork, whose child briefly shows the whole JVM's RSS) and is not counted twice.
    """

    root: int
    samples: int = 0
    peak_rss: int = 0
    peak_pss: int = 0
    peak_processes: int = 0
    shared_skipped: int = 0
    at_peak: Counter[str] = field(default_factory=Counter)  # RSS by process at the RSS peak
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.done.is_set():
            rss = pss = 0
            by_name: Counter[str] = Counter()
            tree = process_tree(self.root)
            statms = {pid: _read(f"/proc/{pid}/statm") for pid in tree}
            for pid, parent in tree.items():
                statm = statms[pid]
                if statm is None:
                    continue
                if same_address_space(statm, statms.get(parent)):
                    self.shared_skipped += 1
                    continue
                found = memory(pid, statm)
                if found:
                    by_name[found[0]] += found[1]
                    rss += found[1]
                    pss += found[2]
            self.samples += 1
            self.peak_processes = max(self.peak_processes, len(tree))
            self.peak_pss = max(self.peak_pss, pss)
            if rss > self.peak_rss:
                self.peak_rss, self.at_peak = rss, by_name
            self.done.wait(INTERVAL)


def run_demo(events: int, days: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        home = Path(tmp) / "dagster_home"
        command = [str(REPO / ".venv" / "bin" / "lake"), "demo", "--events", str(events), "--days", str(days)]
        command += ["--dagster-home", str(home)]
        env = {**os.environ, "LAKE_ENV": "local", "LAKE_ROOT": str(Path(tmp) / "lake")}
        print(f"\n$ LAKE_ENV=local LAKE_ROOT={env['LAKE_ROOT']} {shlex.join(command)}", flush=True)
        log = Path(tmp) / "demo.out"
        with log.open("wb") as out:
            started = time.perf_counter()
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
            sampler = Sampler(process.pid)
            thread = threading.Thread(target=sampler.run, daemon=True)
            thread.start()
            code = process.wait()
            wall = time.perf_counter() - started
            sampler.done.set()
            thread.join()
        output = log.read_text(errors="replace").splitlines()
        shown = 30 if code == 0 else 80  # a failure's cause sits above dagster's traceback
        print(f"--- demo output (last {shown} lines) ---")
        print("\n".join(output[-shown:]))
        print("---")
        print(f"events {events:,}, days {days}: exit {code}")
        print(f"  wall time            {wall:8.1f} s      (target < 120 s)")
        peak_rss, peak_pss = sampler.peak_rss / 2**30, sampler.peak_pss / 2**30
        print(f"  peak total RSS       {peak_rss:8.2f} GB     (target < 3 GB; sum over the tree)")
        print(f"  peak total PSS       {peak_pss:8.2f} GB     (shared pages counted once)")
        every = f"{sampler.samples} samples every {INTERVAL} s"
        print(f"  processes (max)      {sampler.peak_processes:8d}        {every}")
        print(
            f"  vfork-like children  {sampler.shared_skipped:8d}        sharing the parent's pages, not added"
        )
        print("  RSS by process at the peak:")
        for name, rss in sampler.at_peak.most_common(8):
            print(f"    {rss / 2**30:6.2f} GB  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", type=int, nargs="*", default=[120_000], help="demo sizes to run, in order")
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at start")
    for events in args.events:
        run_demo(events, args.days)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
