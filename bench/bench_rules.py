"""How long the rule stage takes per message on the shared corpus.

    python3 bench/bench_rules.py [--limit N] [DIR ...]

Two numbers: "stage" is the rules stage as the pipeline times it, including the
first use of the message's lazily built views (rendered HTML, URL list, header
block), which the rule stage happens to trigger; "matching" warms those views
first, so it is the cost of the rules themselves. Runs in one process, offline,
classifier skipped.
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
    args = parser.parse_args()
    if not all(Path(d).exists() for d in args.dirs):
        print("corpus not found; pass folders explicitly", file=sys.stderr)
        return 2
    pipeline = build_pipeline(Settings(config=Config(), offline=True, skip=("classifier",)))
    compiled = pipeline.services["rules"]
    from mailsphere_cli.perimeter import stage as perimeter
    from mailsphere_cli.attachments import stage as attachments
    stage_ms: list[float] = []
    match_ms: list[float] = []
    for folder in args.dirs:
        items = [i for i in iter_sources([folder]) if isinstance(i, RawMessage)]
        for raw in items[: args.limit or None]:
            stage_ms.append(pipeline.run(raw).timings_ms.get("rules", 0.0))
            msg = ParsedMessage(raw.data)
            ctx = Context(msg=msg, config=pipeline.config, offline=True, services=pipeline.services)
            perimeter.run(msg, ctx)
            attachments.run(msg, ctx)
            msg.body, msg.urls, msg.header_block, msg.raw_text, msg.html_text
            msg.html_doc.anchors, msg.parts
            began = time.perf_counter()
            compiled.match_patterns(msg)
            compiled.run_evals(msg, ctx)
            compiled.run_metas(ctx)
            match_ms.append((time.perf_counter() - began) * 1000)
    print(f"{len(stage_ms)} messages, {len(compiled.pack.rules)} rules")
    for name, values in (("stage", stage_ms), ("matching", match_ms)):
        values.sort()
        print(f"{name:9} mean {statistics.fmean(values):.3f} ms  median {values[len(values) // 2]:.3f} ms"
              f"  p99 {values[int(len(values) * 0.99)]:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
