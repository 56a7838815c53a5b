"""How long the rule stage takes per message on the shared corpus.

    python3 bench/bench_rules.py [--limit N] [--wall] [DIR ...]

Every message is parsed and goes through perimeter, attachments and lists as in
a scan; then the rule stage runs in its parts, each timed in CPU time of this
thread (less disturbed by other load than the wall clock; still note the
machine's load, `uptime`, next to the numbers):

- "views": the message views the stage reads first, built here: the texts of
  the pattern targets (body, rawbody, uri, html...), the rendered HTML and its
  links; not the ones no rule reads (the header block, unless a rule targets
  ALL; the raw text, unless a rule is of kind full);
- "patterns": the regex rules (rules/matcher.py), hits added to the context;
- "evals", "metas": the eval and meta rules, hits added;
- "stage": the sum of those four, what the rule stage costs a message;
- "decisions": the decisions stage, after the stage.

Messages go in chunks of `--batch` (workers.BATCH, 32, as a scan's workers take them): every
message of the chunk through perimeter, attachments and lists, then the views of
every message, then the pattern pass of every message (the stage's PREPARE,
which workers.scan_batch runs over the whole chunk first), then evals, metas
and decisions message by message. `--batch 1` times one message through every part
before the next (the order before the pattern pass ran ahead).

The pattern matcher's caches (header values, the RE2 automata) start empty, as
in a worker at the start of a scan. `--wall` then also runs every message
through the whole pipeline (a second pipeline) and reports the rule stage's
wall-clock time as the pipeline records it; module-level caches are warm by
then, and the wall clock counts waiting for the CPU on a loaded machine.
"""
from __future__ import annotations

import argparse
import statistics
import time

from corpus import add_corpus_args, corpus_messages  # also puts the repository on sys.path

from mailsphere_cli.config import Config  # noqa: E402
from mailsphere_cli.context import Context  # noqa: E402
from mailsphere_cli.message import ParsedMessage  # noqa: E402
from mailsphere_cli.workers import BATCH, Settings, build_pipeline  # noqa: E402


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
    from mailsphere_cli import decide, lists
    from mailsphere_cli.attachments import stage as attachments
    from mailsphere_cli.perimeter import stage as perimeter
    wall_ms: list[float] = []
    stage_ms: list[float] = []
    parts: dict[str, list[float]] = {"views": [], "patterns": [], "evals": [], "metas": [],
                                     "decisions": []}
    texts = [t for t in compiled.patterns.targets if t.kind != "header" or not t.header]
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
            for target in texts:
                compiled.patterns.text_for(msg, target.kind, target.target)
            msg.html_text, msg.html_doc.anchors, msg.urls
            spent.append([clock() - t0])
        for (msg, ctx), times in zip(chunk, spent):
            t1 = clock()
            for hit in compiled.match_patterns(msg):
                ctx.add(hit)
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
