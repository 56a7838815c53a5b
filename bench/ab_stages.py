"""Every pipeline stage of two code trees, paired chunk by chunk in one process.

    python3 bench/ab_stages.py BASE_TREE [--limit N] [--batch 32] [DIR ...]

`bench_stages.py` run twice a minute apart on the shared machine differs by more
than a change to one stage. Here both trees run in one process, as `ab_evals.py`
does for the eval rules: the `mailsphere_cli` package of BASE_TREE (a checkout of
the revision to compare with, e.g. `git archive REV | tar -x -C DIR`) and of this
tree are copied under other names, each builds its pipeline (offline, all layers,
this tree's rule pack and model), and every chunk of `--batch` messages goes
through `workers.scan_batch` of each, the order alternating from chunk to chunk,
with each pipeline's stage clock on thread CPU time. One cold pass: each message
is seen once by each tree, as a worker sees it (libraries the stages import on
first use are imported before, so neither tree pays for the other). Printed: CPU ms per message for
every stage, "glue" (the chunk's CPU outside the named stages) and the whole run,
for both trees and their ratio, and how many messages' verdicts (hits, evidence,
score, action) differ between them.
"""
from __future__ import annotations

import importlib
import time
import types
from pathlib import Path

from ab_evals import NAMES, paired_arguments, paired_variants


def _variant(name: str):
    def module(sub: str):
        return importlib.import_module(f"{name}.{sub}")
    workers, config, pipeline = module("workers"), module("config"), module("pipeline")
    built = workers.build_pipeline(workers.Settings(config=config.Config(), offline=True))
    pipeline.time = types.SimpleNamespace(perf_counter=time.thread_time)  # its stage clock only
    return built, workers.scan_batch, pipeline.STAGE_NAMES


def _verdict_facts(verdict) -> tuple:
    return (verdict.action, round(verdict.score, 6), verdict.errors,
            tuple((h.rule, h.score, h.evidence) for h in verdict.hits))


def main() -> int:
    args = paired_arguments(__doc__.splitlines()[0], "messages", "--batch")
    names = NAMES
    with paired_variants(args, _variant) as variants:
        if variants is None:
            return 2
        sources = importlib.import_module("ms_this.sources")
        raws = []
        for folder in args.dirs:
            items = [i for i in sources.iter_sources([folder]) if isinstance(i, sources.RawMessage)]
            raws.extend(items[: args.limit or None])
        stage_names = list(variants["ms_this"][2])
        spent = {name: dict.fromkeys(stage_names + ["glue", "run"], 0.0) for name in names}
        differ = 0
        for number, start in enumerate(range(0, len(raws), args.batch)):
            chunk = raws[start:start + args.batch]
            facts = {}
            for name in (names if number % 2 == 0 else names[::-1]):
                pipeline, scan_batch, _ = variants[name]
                began = time.thread_time()
                verdicts = scan_batch(pipeline, chunk, 0)
                run = (time.thread_time() - began) * 1000
                totals = spent[name]
                staged = 0.0
                for verdict in verdicts:
                    for stage in stage_names:
                        value = verdict.timings_ms.get(stage, 0.0)
                        totals[stage] += value
                        staged += value
                totals["glue"] += run - staged
                totals["run"] += run
                facts[name] = [_verdict_facts(v) for v in verdicts]
            differ += sum(a != b for a, b in zip(facts["ms_base"], facts["ms_this"]))
    count = len(raws)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"{count} messages in chunks of {args.batch}, one pass, load {load}; CPU ms per message")
    print(f"{'stage':12} {'base':>7} {'this':>7} {'ratio':>6}")
    for stage in stage_names + ["glue", "run"]:
        before, after = (spent[n][stage] / count for n in names)
        print(f"{stage:12} {before:7.3f} {after:7.3f} {after / before if before else 0:6.2f}")
    print(f"messages whose verdicts differ: {differ}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
