"""CPU time per pipeline stage and message, the whole pipeline in this process.

    python3 bench/bench_stages.py [--limit N] [--passes P] [--skip STAGE] [--batch N] [DIR ...]

Every message runs through `Pipeline.run` as in a scan (offline, all layers);
the pipeline's own stage clock is pointed at this thread's CPU time
(`time.thread_time`) instead of the wall clock, so the per-stage figures are
what the stage cost in CPU, less disturbed by other load (still note `uptime`).
"run" is the whole `Pipeline.run` call; "glue" is what it spent outside the
named stages (context, organisation lookup, the loop itself). With `--passes P`
the corpus is run P times and the best (lowest mean) pass is reported per stage;
the first pass starts with cold module caches, as a worker does.
"""
from __future__ import annotations

import argparse
import statistics
import time
import types

from corpus import add_corpus_args, corpus_messages  # also puts the repository on sys.path

from mailsphere_cli import pipeline as pipeline_module  # noqa: E402
from mailsphere_cli.config import Config  # noqa: E402
from mailsphere_cli.pipeline import STAGE_NAMES  # noqa: E402
from mailsphere_cli.sources import RawMessage  # noqa: E402
from mailsphere_cli.workers import Settings, build_pipeline, scan_batch  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_args(parser)
    parser.add_argument("--passes", type=int, default=1, help="runs over the messages (best kept)")
    parser.add_argument("--skip", action="append", default=[], help="stage to skip (repeatable)")
    parser.add_argument("--batch", type=int, default=0,
                        help="run chunks of N messages stage by stage, as scan's workers do "
                             "(workers.scan_batch); 0: one message after the other (Pipeline.run)")
    args = parser.parse_args()
    raws = corpus_messages(args)
    if raws is None:
        return 2
    pipeline = build_pipeline(Settings(config=Config(), offline=True, skip=tuple(args.skip)))
    # The stage clock of the pipeline module only (time.perf_counter elsewhere is untouched).
    pipeline_module.time = types.SimpleNamespace(perf_counter=time.thread_time)
    names = list(STAGE_NAMES) + ["glue", "run"]
    best: dict[str, float] = {}
    for _ in range(args.passes):
        per: dict[str, list[float]] = {name: [] for name in names}
        for verdict, total in _verdicts(pipeline, raws, args.batch):
            staged = 0.0
            for name in STAGE_NAMES:
                value = verdict.timings_ms.get(name, 0.0)
                per[name].append(value)
                staged += value
            per["glue"].append(total - staged)
            per["run"].append(total)
        for name, values in per.items():
            mean = statistics.fmean(values)
            best[name] = min(best.get(name, mean), mean)
    how = f"chunks of {args.batch} stage by stage" if args.batch else "one message after the other"
    print(f"{len(raws)} messages, {args.passes} pass(es), {how}, CPU ms per message "
          f"(best pass mean)")
    for name in names:
        print(f"{name:12} {best[name]:.3f}")
    return 0


def _verdicts(pipeline, raws: list[RawMessage], batch: int):
    """(verdict, CPU ms of its run) per message; in batch mode a chunk's CPU is shared
    out evenly among its messages (their stage figures are still their own)."""
    if not batch:
        for raw in raws:
            began = time.thread_time()
            verdict = pipeline.run(raw)
            yield verdict, (time.thread_time() - began) * 1000
        return
    for start in range(0, len(raws), batch):
        chunk = raws[start:start + batch]
        began = time.thread_time()
        verdicts = scan_batch(pipeline, chunk, timeout=0)
        each = (time.thread_time() - began) * 1000 / len(chunk)
        for verdict in verdicts:
            yield verdict, each


if __name__ == "__main__":
    raise SystemExit(main())
