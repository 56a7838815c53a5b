"""How long the rule stage takes per message on the shared corpus.

    python3 bench/bench_rules.py [--limit N] [DIR ...]

"stage" is the rules stage as the pipeline times it, including the first use
of the message's lazily built views (rendered HTML, URL list, header block),
which the rule stage happens to trigger; "views" is the cost of building those
views alone; "matching" warms them first, so it is the cost of the rules
themselves, split into "patterns" (RE2 set passes), "evals", "metas"; and
"decisions" is the decisions stage. Runs in one process, offline, classifier
skipped. All but "stage" are CPU time of this thread (less disturbed by other
load); still note the machine's load (`uptime`) next to the numbers.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailsphere_cli.config import Config  # noqa: E402
from mailsphere_cli.context import Context  # noqa: E402
from mailsphere_cli.message import ParsedMessage  # noqa: E402
from mailsphere_cli.sources import RawMessage, iter_sources  # noqa: E402
from mailsphere_cli.workers import Settings, build_pipeline  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", default=[str(CORPUS / d) for d in ("ham", "spam", "phish")])
    parser.add_argument("--limit", type=int, default=0, help="messages per folder (0 = all)")
    parser.add_argument("--rules", action="append", default=[],
                        help="rule directory instead of the shipped rules (repeatable)")
    args = parser.parse_args()
    if not all(Path(d).exists() for d in args.dirs):
        print("corpus not found; pass folders explicitly", file=sys.stderr)
        return 2
    pipeline = build_pipeline(Settings(config=Config(), offline=True, skip=("classifier",),
                                        rules_dirs=tuple(args.rules)))
    compiled = pipeline.services["rules"]
    from mailsphere_cli.perimeter import stage as perimeter
    from mailsphere_cli.attachments import stage as attachments
    from mailsphere_cli import decide
    stage_ms: list[float] = []
    match_ms: list[float] = []
    parts: dict[str, list[float]] = {"views": [], "patterns": [], "evals": [], "metas": [],
                                     "decisions": []}
    for folder in args.dirs:
        items = [i for i in iter_sources([folder]) if isinstance(i, RawMessage)]
        for raw in items[: args.limit or None]:
            stage_ms.append(pipeline.run(raw).timings_ms.get("rules", 0.0))  # wall clock, as the pipeline records it
            msg = ParsedMessage(raw.data)
            ctx = Context(msg=msg, config=pipeline.config, offline=True, services=pipeline.services)
            perimeter.run(msg, ctx)
            attachments.run(msg, ctx)
            began = time.thread_time()
            msg.body, msg.urls, msg.header_block, msg.raw_text, msg.html_text
            msg.html_doc.anchors, msg.parts
            t1 = time.thread_time()
            for hit in compiled.match_patterns(msg):
                ctx.add(hit)
            t2 = time.thread_time()
            for hit in compiled.run_evals(msg, ctx):
                ctx.add(hit)
            t3 = time.thread_time()
            for hit in compiled.run_metas(ctx):
                ctx.add(hit)
            t4 = time.thread_time()
            decide.run(msg, ctx)
            t5 = time.thread_time()
            match_ms.append((t4 - t1) * 1000)
            for name, (a, b) in zip(parts, ((began, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5))):
                parts[name].append((b - a) * 1000)
    print(f"{len(stage_ms)} messages, {len(compiled.pack.rules)} rules")
    for name, values in (("stage", stage_ms), ("matching", match_ms), *parts.items()):
        values.sort()
        print(f"{name:9} mean {statistics.fmean(values):.3f} ms  median {values[len(values) // 2]:.3f} ms"
              f"  p99 {values[int(len(values) * 0.99)]:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
