"""The worker's side of a scan for two code trees, paired chunk by chunk in one process.

    python3 bench/ab_chunks.py BASE_TREE [--limit N] [--chunk 16] [DIR ...]

What a pool worker does with a chunk, in full: `workers._scan_chunk` over the chunk's
files (FileRefs, as a scan of a folder sends them: the worker reads each file, runs every
stage with the scan's 30 s time budget, encodes the verdicts) and the pickling of its
result as the pool sends it back. `ab_stages.py` times the stages inside `scan_batch`;
this adds reading, encoding and pickling. Both trees are staged side by side as in
`ab_stages.py` (the other tree's `mailsphere_cli` and this one's under other names, this
tree's rule pack and model), their pipelines frozen out of the collector as a worker's
are, and each chunk goes through both, the order alternating. One cold pass. Printed:
thread CPU ms per message of each tree and their ratio, bytes pickled per message, and
how many verdict records (the JSON a scan writes, timings left out) differ.
"""
from __future__ import annotations

import gc
import importlib
import json
import os
import time
from concurrent.futures.process import _ResultItem
from multiprocessing.reduction import ForkingPickler

from ab_evals import NAMES, paired_arguments, paired_variants


def _variant(name: str):
    workers = importlib.import_module(f"{name}.workers")
    config = importlib.import_module(f"{name}.config")
    sources = importlib.import_module(f"{name}.sources")
    settings = workers.Settings(config=config.Config(), offline=True)
    workers._SETTINGS = settings
    workers._PIPELINE = workers.build_pipeline(settings)
    return workers, sources


def _record(result) -> str:
    """A result's verdict as the scan writes it, without its timings."""
    if not isinstance(result, tuple):
        return repr(result)
    light, body, offset, skipped = result[1]
    record = json.loads(body[:offset] + skipped + body[offset + 4:])
    record.pop("timings_ms", None)
    record.pop("elapsed_ms", None)
    return json.dumps(record, sort_keys=True)


def main() -> int:
    args = paired_arguments(__doc__.splitlines()[0], "files", "--chunk")
    names = NAMES
    with paired_variants(args, _variant) as variants:
        if variants is None:
            return 2
        gc.set_threshold(*variants["ms_this"][0]._WORKER_GC_THRESHOLD)  # as a pool worker
        paths = []
        for folder in args.dirs:
            files = sorted(f for f in os.listdir(folder) if not f.startswith("."))
            paths.extend(os.path.join(folder, f) for f in files[: args.limit or None])
        spent = dict.fromkeys(names, 0.0)
        pickled = dict.fromkeys(names, 0)
        differ = 0
        for number, start in enumerate(range(0, len(paths), args.chunk)):
            records = {}
            for name in (names if number % 2 == 0 else names[::-1]):
                workers, sources = variants[name]
                chunk = [(start + i, sources.FileRef(path, "file"))
                         for i, path in enumerate(paths[start:start + args.chunk])]
                began = time.thread_time()
                results = workers._scan_chunk(chunk)
                sent = ForkingPickler.dumps(_ResultItem(number, result=results))
                spent[name] += time.thread_time() - began
                pickled[name] += len(sent)
                records[name] = [_record(result) for _, result in results]
            differ += sum(a != b for a, b in zip(records["ms_base"], records["ms_this"]))
    count = len(paths)
    load = os.getloadavg()[0]
    before, after = (spent[n] * 1000 / count for n in names)
    print(f"{count} files in chunks of {args.chunk}, one pass, load {load:.2f}")
    print(f"worker CPU ms per message: base {before:.3f}  this {after:.3f}  "
          f"ratio {after / before:.3f}")
    print(f"bytes pickled per message: base {pickled['ms_base'] / count:.0f}  "
          f"this {pickled['ms_this'] / count:.0f}")
    print(f"verdict records that differ: {differ}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
