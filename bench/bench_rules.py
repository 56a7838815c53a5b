"""How long the rule stage takes per message on the shared corpus.

    python3 bench/bench_rules.py [--limit N] [--wall] [DIR ...]

Every message is parsed and goes through perimeter, attachments and lists as in
a scan; then the rule stage runs in its parts, each timed in CPU time of this
thread (less disturbed by other load than the wall clock; still note the
machine's load, `uptime`, next to the numbers):

- "views": the stage's first PREPARE step (rules/engine.py), as a worker runs it:
  the message views the pattern targets are made of (body, text, html, urls),
  rendered HTML included; views only some checks read (anchors, the header block)
  are built where a check or target first asks, and counted there;
- "patterns": the stage's second PREPARE step, the regex rules (rules/matcher.py);
  its hits are added to the context as the stage's `run` adds them;
- "evals", "metas": the eval and meta rules, hits added;
- "stage": the sum of those four, what the rule stage costs a message;
- "decisions": the decisions stage, after the stage.

Messages go in chunks of `--batch` (workers.BATCH, 32, as a scan's workers take them): every
message of the chunk through perimeter, attachments and lists, then the views of
every message, then the pattern pass of every message (workers.scan_batch runs
the stage's PREPARE steps over the whole chunk first), then evals, metas
and decisions message by message. `--batch 1` times one message through every part
before the next (the order before the pattern pass ran ahead).

The garbage collector is set as in a scan's worker: the pipeline's objects frozen
out of its care and the worker's thresholds (workers.py).
The pattern matcher's caches (header values, the RE2 automata) start empty, as
in a worker at the start of a scan. `--wall` then also runs every message
through the whole pipeline (a second pipeline) and reports the rule stage's
wall-clock time as the pipeline records it; module-level caches are warm by
then, and the wall clock counts waiting for the CPU on a loaded machine.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import time

from corpus import add_corpus_args, corpus_messages  # also puts the repository on sys.path

from mailsphere_cli.config import Config  # noqa: E402
from mailsphere_cli.context import Context  # noqa: E402
from mailsphere_cli.message import ParsedMessage  # noqa: E402
from mailsphere_cli.workers import _WORKER_GC_THRESHOLD, BATCH, Settings, build_pipeline  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_args(parser)
    parser.add_argument("--wall", action="store_true",
                        help="also report the stage's wall-clock time in full pipeline runs")
    parser.add_argument("--batch", type=int, default=BATCH,
                        help="messages per chunk, as the workers run them (1: one at a time)")
    parser.add_argument("--rules", action="append", default=[],
                        help="rule directory instead of the shipped rules (repeatable)")
    args = parser.parse_args()
    raws = corpus_messages(args)
    if raws is None:
        return 2
    pipeline = build_pipeline(Settings(config=Config(), offline=True, skip=("classifier",),
                                        rules_dirs=tuple(args.rules)))
    compiled = pipeline.services["rules"]
    gc.collect()
    gc.freeze()  # as the scan does before it forks its workers
    gc.set_threshold(*_WORKER_GC_THRESHOLD)
    from mailsphere_cli import decide, lists
    from mailsphere_cli.attachments import stage as attachments
    from mailsphere_cli.perimeter import stage as perimeter
    from mailsphere_cli.rules.engine import PREPARE
    prepare_views, prepare_patterns = PREPARE
    wall_ms: list[float] = []
    stage_ms: list[float] = []
    parts: dict[str, list[float]] = {"views": [], "patterns": [], "evals": [], "metas": [],
                                     "decisions": []}
    clock = time.thread_time
    for start in range(0, len(raws), max(1, args.batch)):
        chunk = []
        for raw in raws[start:start + max(1, args.batch)]:
            msg = ParsedMessage(raw.data)
            ctx = Context(msg=msg, config=pipeline.config, offline=True, services=pipeline.services)
            perimeter.run(msg, ctx)
            attachments.run(msg, ctx)
            lists.run(msg, ctx)
            chunk.append((msg, ctx))
        # the views of every message of the chunk, then the pattern pass of every message,
        # as the stage's PREPARE runs them in a worker; with --batch 1, one message
        # through every part
        spent = []
        for msg, ctx in chunk:
            t0 = clock()
            prepare_views(msg, ctx)
            spent.append([clock() - t0])
        for (msg, ctx), times in zip(chunk, spent):
            t1 = clock()
            prepare_patterns(msg, ctx)
            for hit in ctx.pattern_hits:
                ctx.add(hit)
            ctx.pattern_hits = None
            times.append(clock() - t1)
        for (msg, ctx), times in zip(chunk, spent):
            t2 = clock()
            for hit in compiled.run_evals(msg, ctx):
                ctx.add(hit)
            t3 = clock()
            for hit in compiled.run_metas(ctx):
                ctx.add(hit)
            t4 = clock()
            decide.run(msg, ctx)
            t5 = clock()
            times += [t3 - t2, t4 - t3, t5 - t4]
            stage_ms.append(sum(times[:4]) * 1000)
            for name, value in zip(parts, times):
                parts[name].append(value * 1000)
    if args.wall:
        wall = build_pipeline(Settings(config=Config(), offline=True, skip=("classifier",),
                                       rules_dirs=tuple(args.rules)))
        wall_ms = [wall.run(raw).timings_ms.get("rules", 0.0) for raw in raws]
    print(f"{len(stage_ms)} messages, {len(compiled.pack.rules)} rules, chunks of {max(1, args.batch)}")
    rows = [("stage", stage_ms), *parts.items()] + ([("wall", wall_ms)] if wall_ms else [])
    for name, values in rows:
        values.sort()
        print(f"{name:9} mean {statistics.fmean(values):.3f} ms  median {values[len(values) // 2]:.3f} ms"
              f"  p99 {values[int(len(values) * 0.99)]:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
