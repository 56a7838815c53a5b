"""Throughput benchmark: messages/s, CPU and peak memory of `mailsphere scan`, offline.

    python3 bench/bench_scan.py [PATH ...] [--workers 1 2] [--repeat N] [--skip STAGE ...]

Defaults to ../shared/corpus/{ham,spam,phish}. Each run is the real CLI (`--json`
to a file) in a fresh data directory (all of them deleted after the last run). Reported per run:

- `total_s`, `msgs_per_s_total`: from launching the command to its exit, start-up
  (interpreter, imports, rule pack, YARA, model) included;
- `startup_s`: the part of `total_s` before the pipeline was ready to take
  messages (plus the pool's shutdown at the end), `steady_s` and
  `msgs_per_s_steady`: the rest, as the scan itself timed it (its `runs.counts`);
- `cpu_ms_per_msg`: CPU time (user + system) per message analysed, steady
  state, of the parent process and of all workers together (the scan reads
  its own and its reaped workers' usage); with 1 worker the parent does it all.
  CPU time is far less sensitive than wall clock to others sharing the machine;
- `peak_rss_mib`: the peak resident memory of the parent and of the largest
  worker, as the kernel counted them (the scan records them with its run; nothing
  polls the processes while they work);
- `load`: the 1-minute load average before and after the run: say it with any figure.

Mailsphere's own bytecode is compiled first, as a package install does (this
environment sets PYTHONDONTWRITEBYTECODE=1, so a checkout never keeps any);
`--no-bytecode` leaves it out.

With `--repeat N` every configuration runs N times (interleaved) and a last line
per configuration gives the medians.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


def run(paths: list[str], workers: int, skip: list[str], data: str) -> dict:
    """One scan with its data directory in the (new, empty) folder `data`."""
    store = Path(data) / "store"
    args = [sys.executable, "-m", "mailsphere_cli", "scan", *paths, "--offline", "--json",
            "-j", str(workers), "--data-dir", str(store)]
    for stage in skip:
        args += ["--skip", stage]
    out_path = Path(data) / "verdicts.jsonl"
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    # Verdicts go to a file: a pipe read every 50 ms would throttle the scan itself.
    # Nothing polls the scan while it runs (walking /proc for its processes' memory
    # every 50 ms took 3-4 % of a core from it): the scan records the peak memory the
    # kernel counted, its own and its largest worker's, with the run.
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT)
        proc.wait()
    total = time.perf_counter() - began
    load_after = os.getloadavg()[0]
    if proc.returncode != 0:
        raise SystemExit(f"scan exited with {proc.returncode}: {' '.join(args)}")
    actions: dict[str, int] = {}
    count = 0
    with open(out_path, "rb") as verdicts:
        for line in verdicts:
            record = json.loads(line)
            actions[record["action"]] = actions.get(record["action"], 0) + 1
            count += 1
    db = sqlite3.connect(store / "mailsphere.db")
    counts = json.loads(db.execute("SELECT counts FROM runs ORDER BY id DESC").fetchone()[0])
    db.close()
    steady = counts["elapsed_s"] - counts["startup_s"]
    scanned = max(counts["scanned"], 1)
    cpu = counts.get("cpu_s", {})
    return {
        "workers": workers, "messages": count, "total_s": round(total, 2),
        "msgs_per_s_total": round(count / total, 1),
        "startup_s": round(total - steady, 2), "steady_s": round(steady, 2),
        "msgs_per_s_steady": round(counts["scanned"] / steady, 1) if steady > 0 else None,
        "cpu_ms_per_msg": {"parent": round(cpu.get("parent", 0) * 1000 / scanned, 3),
                           "workers": round(cpu.get("workers", 0) * 1000 / scanned, 3)},
        "cpu_startup_s": round(cpu.get("startup", 0), 2),
        "peak_rss_mib": counts.get("peak_rss_mib", {}),
        "load": [round(load_before, 2), round(load_after, 2)], "actions": actions,
    }


def medians(results: list[dict]) -> dict:
    def med(key, sub=None):
        values = [r[key][sub] if sub else r[key] for r in results]
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 3) if values else None
    return {"workers": results[0]["workers"], "median_of": len(results),
            "total_s": med("total_s"), "msgs_per_s_total": med("msgs_per_s_total"),
            "startup_s": med("startup_s"), "msgs_per_s_steady": med("msgs_per_s_steady"),
            "cpu_ms_per_msg": {"parent": med("cpu_ms_per_msg", "parent"),
                               "workers": med("cpu_ms_per_msg", "workers")},
            "peak_rss_mib": {key: max(r["peak_rss_mib"].get(key, 0.0) for r in results)
                             for key in ("parent", "worker")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--workers", nargs="*", type=int, default=[1, os.cpu_count() or 2])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip", nargs="*", default=[])
    parser.add_argument("--no-bytecode", action="store_true",
                        help="do not compile Mailsphere's bytecode first")
    args = parser.parse_args()
    if not args.no_bytecode:
        # An installed package has its bytecode compiled at install time (pip does it), an
        # editable checkout under PYTHONDONTWRITEBYTECODE=1 never keeps any: every start would
        # compile ~80 modules again (~0.6 s). Compile them once here, as an install would.
        compileall.compile_dir(str(ROOT / "mailsphere_cli"), quiet=1)
    paths = args.paths or [str(CORPUS / name) for name in ("ham", "spam", "phish")]
    results: dict[int, list[dict]] = {w: [] for w in args.workers}
    # Every run's data directory is kept until the last run is over. Deleting one (its
    # ~900 quarantine files) just before the next run made that run's file creation several
    # times dearer: for about 30 s ext4 skips the inodes it freed when it looks for a free
    # one (`recently_deleted`), 0.8-1.3 ms of kernel CPU a file against 0.03 (bench/README.md).
    # A scan does not follow the deletion of its own quarantine in real use.
    with tempfile.TemporaryDirectory(prefix="bench_scan-") as base:
        for index in range(args.repeat):
            for workers in args.workers:
                data = Path(base) / f"run-{index}-{workers}"
                data.mkdir()
                result = run(paths, workers, args.skip, str(data))
                results[workers].append(result)
                print(json.dumps(result), flush=True)
    if args.repeat > 1:
        for workers in args.workers:
            print(json.dumps(medians(results[workers])), flush=True)


if __name__ == "__main__":
    main()
