"""The rule stage's PREPARE steps (message views, pattern pass) of two code trees, paired
chunk by chunk in one process.

    python3 bench/ab_prepare.py BASE_TREE [--limit N] [--batch 32] [DIR ...]

Both trees' packages are staged as in ab_evals.py. Each chunk of `--batch` corpus
messages goes through parse, perimeter, attachments and lists in one tree, then its
views for every message, then its pattern pass for every message (each part timed in
thread CPU over the chunk), then the eval rules (untimed: they evict the pass's
automata from the CPU caches between two chunks, as in a worker); then the same chunk
through the other tree, the order alternating from chunk to chunk. Prints both parts'
mean per message, their ratios, and how many messages' pattern hits (rule and
evidence) differ between the trees. The two slots differ by a few per cent by
themselves: run it both ways round.
"""
from __future__ import annotations

import gc
import importlib
import tempfile
import time
from pathlib import Path

from ab_evals import NAMES, base_tree, import_stage_libraries, paired_arguments, rule_variant, stage_trees


def _variant(name: str) -> dict:
    variant = rule_variant(name)
    module = variant["module"]
    variant["views"], variant["patterns"] = module("rules.engine").PREPARE
    variant["gc"] = module("workers")._WORKER_GC_THRESHOLD
    return variant


def _chunk(variant: dict, datas: list[bytes]) -> tuple[float, float, list]:
    pipeline, clock = variant["pipeline"], time.thread_time
    chunk = []
    for data in datas:
        msg = variant["parsed"](data)
        ctx = variant["context"](msg=msg, config=pipeline.config, offline=True,
                                 services=pipeline.services)
        for stage in variant["stages"]:
            stage.run(msg, ctx)
        chunk.append((msg, ctx))
    began = clock()
    for msg, ctx in chunk:
        variant["views"](msg, ctx)
    viewed = clock()
    for msg, ctx in chunk:
        variant["patterns"](msg, ctx)
    matched = clock()
    hits = []
    for msg, ctx in chunk:
        hits.append(sorted((h.rule, h.evidence) for h in ctx.pattern_hits))
        for hit in ctx.pattern_hits:
            ctx.add(hit)
        ctx.pattern_hits = None
        for hit in variant["compiled"].run_evals(msg, ctx):
            ctx.add(hit)
    return viewed - began, matched - viewed, hits


def main() -> int:
    args = paired_arguments(__doc__.splitlines()[0], "messages", "--batch")
    base = base_tree(args.base, args.dirs)
    if base is None:
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        stage_trees(base, Path(scratch))
        variants = {name: _variant(name) for name in NAMES}
        import_stage_libraries()
        sources = importlib.import_module("ms_this.sources")
        raws: list[bytes] = []
        for folder in args.dirs:
            items = [i.data for i in sources.iter_sources([folder]) if isinstance(i, sources.RawMessage)]
            raws.extend(items[: args.limit or None])
        gc.collect()
        gc.freeze()
        gc.set_threshold(*variants["ms_this"]["gc"])
        spent = {name: [0.0, 0.0] for name in NAMES}
        differ = 0
        size = max(1, args.batch)
        for number, start in enumerate(range(0, len(raws), size)):
            results = {}
            for name in NAMES if number % 2 == 0 else NAMES[::-1]:
                views, patterns, hits = _chunk(variants[name], raws[start:start + size])
                spent[name][0] += views
                spent[name][1] += patterns
                results[name] = hits
            differ += sum(a != b for a, b in zip(results["ms_base"], results["ms_this"]))
    count = len(raws)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    (bv, bp), (tv, tp) = spent["ms_base"], spent["ms_this"]
    print(f"{count} messages, load {load}: views {bv / count * 1e6:.1f} -> {tv / count * 1e6:.1f} us "
          f"({tv / bv:.3f}), patterns {bp / count * 1e6:.1f} -> {tp / count * 1e6:.1f} us "
          f"({tp / bp:.3f}), both {(bv + bp) / count * 1e6:.1f} -> {(tv + tp) / count * 1e6:.1f} us "
          f"({(tv + tp) / (bv + bp):.3f}); messages whose pattern hits differ: {differ}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
