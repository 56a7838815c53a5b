"""Throughput benchmark: messages/s and peak memory of `mailsphere scan`, offline.

    python3 bench/bench_scan.py [PATH ...] [--workers 1 2] [--skip STAGE ...]

Defaults to ../shared/corpus/{ham,spam,phish}. Each configuration runs the real CLI in
a fresh data directory; peak resident memory is sampled every 50 ms for the parent and
for each worker process (psutil).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


def run(paths: list[str], workers: int, skip: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as data:
        args = [sys.executable, "-m", "mailsphere_cli", "scan", *paths, "--offline", "--json",
                "-j", str(workers), "--data-dir", str(Path(data) / "store")]
        for stage in skip:
            args += ["--skip", stage]
        out_path = Path(data) / "verdicts.jsonl"
        began = time.perf_counter()
        # Verdicts go to a file: a pipe read every 50 ms would throttle the scan itself.
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT)
            parent = psutil.Process(proc.pid)
            peak_parent, peak_worker = 0, 0
            while proc.poll() is None:
                try:
                    peak_parent = max(peak_parent, parent.memory_info().rss)
                    for child in parent.children(recursive=True):
                        peak_worker = max(peak_worker, child.memory_info().rss)
                except psutil.Error:
                    pass
                time.sleep(0.05)
        elapsed = time.perf_counter() - began
        actions: dict[str, int] = {}
        count = 0
        with open(out_path, "rb") as verdicts:
            for line in verdicts:
                record = json.loads(line)
                actions[record["action"]] = actions.get(record["action"], 0) + 1
                count += 1
    return {"workers": workers, "messages": count, "elapsed_s": round(elapsed, 2),
            "messages_per_s": round(count / elapsed, 1),
            "peak_parent_mib": round(peak_parent / 2**20, 1),
            "peak_worker_mib": round(peak_worker / 2**20, 1), "actions": actions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--workers", nargs="*", type=int, default=[1, os.cpu_count() or 2])
    parser.add_argument("--skip", nargs="*", default=[])
    args = parser.parse_args()
    paths = args.paths or [str(CORPUS / name) for name in ("ham", "spam", "phish")]
    for workers in args.workers:
        print(json.dumps(run(paths, workers, args.skip)), flush=True)


if __name__ == "__main__":
    main()
