"""Eval rules of two code trees, paired message by message in one process.

    python3 bench/ab_evals.py BASE_TREE [--limit N] [DIR ...]

On a shared machine two benchmark runs a minute apart differ by more than most
changes to the eval checks. Here both trees run in one process instead: the
`mailsphere_cli` package of BASE_TREE (a checkout of the revision to compare
with, e.g. from `git worktree add` or `git archive REV | tar -x -C DIR`) and of
this tree are copied under other names into a temporary folder, every message
goes through parse, perimeter, attachments, lists, the views and the pattern
pass in each, and the eval rules of each are timed in thread CPU time, the
order alternating from message to message. Both see the same load at the same
moment, so their ratio holds still where the absolute figures do not. The
eval hits and errors of the two are compared on every message too.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


def base_tree(base: str, dirs: list[str]) -> Path | None:
    """The other tree, or None (said on stderr) when it or a corpus folder is missing."""
    tree = Path(base).resolve()
    if not (tree / "mailsphere_cli").is_dir() or not all(Path(d).exists() for d in dirs):
        print("base tree or corpus not found", file=sys.stderr)
        return None
    return tree


def stage_trees(base: Path, into: Path) -> None:
    """The other tree's package as `ms_base` and this one's as `ms_this` under `into`, both
    reading this tree's rule pack and model, importable from here on."""
    _copy_package(base, "ms_base", into)
    _copy_package(ROOT, "ms_this", into)
    for shipped in ("rules", "models"):
        (into / shipped).symlink_to(ROOT / shipped)
    sys.path.insert(0, str(into))


def paired_arguments(description: str, unit: str, size_flag: str) -> argparse.Namespace:
    """The arguments of the paired benchmarks over whole stages (ab_stages, ab_chunks): the
    other tree, the corpus folders, a limit per folder and the chunk size."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("base", help="the other tree (a checkout with mailsphere_cli/)")
    parser.add_argument("dirs", nargs="*", default=[str(CORPUS / d) for d in ("ham", "spam", "phish")])
    parser.add_argument("--limit", type=int, default=0, help=f"{unit} per folder (0 = all)")
    # 32: mailsphere_cli.workers.BATCH (not imported here: two trees are in play)
    parser.add_argument(size_flag, type=int, default=32, help=f"{unit} per chunk")
    return parser.parse_args()


def import_stage_libraries() -> None:
    """Libraries a stage imports on first use, imported before timing: the first tree to
    meet a zip would otherwise pay for both (~0.1 s for pyzipper)."""
    for library in ("pyzipper", "py7zr", "olefile", "tnefparse", "oletools.olevba"):
        try:
            importlib.import_module(library)
        except ImportError:
            pass


NAMES = ("ms_base", "ms_this")  # the other tree's package and this one's, as staged


@contextlib.contextmanager
def paired_variants(args: argparse.Namespace, make_variant) -> Iterator[dict | None]:  # noqa: ANN001
    """For ab_stages and ab_chunks: both trees staged in a scratch folder, `make_variant(name)`
    of each, the libraries stages import on first use imported, and all of it frozen out of
    the collector's walks (as a scan's workers have their pipeline: otherwise a full
    collection walks tens of thousands of containers in whichever stage it falls, a noise
    larger than some stages). None when the other tree or a corpus folder is missing."""
    base = base_tree(args.base, args.dirs)
    if base is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as scratch:
        stage_trees(base, Path(scratch))
        variants = {name: make_variant(name) for name in NAMES}
        import_stage_libraries()  # the trees' own modules are apart, as are their memories
        gc.collect()
        gc.freeze()
        yield variants


def _copy_package(tree: Path, name: str, into: Path) -> None:
    target = into / name
    shutil.copytree(tree / "mailsphere_cli", target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in target.rglob("*.py"):
        path.write_text(re.sub(r"\bmailsphere_cli\b", name, path.read_text("utf-8")), "utf-8")


def rule_variant(name: str) -> dict:
    """What the rule-stage comparisons need of the package copied as `name`: its pipeline
    without the classifier (offline), the compiled rules, the message and context
    classes, the stages before the rule stage, and `module(sub)` for anything else."""
    def module(sub: str):
        return importlib.import_module(f"{name}.{sub}")
    workers, config = module("workers"), module("config")
    pipeline = workers.build_pipeline(workers.Settings(config=config.Config(), offline=True,
                                                       skip=("classifier",)))
    return {"pipeline": pipeline, "compiled": pipeline.services["rules"], "module": module,
            "parsed": module("message").ParsedMessage, "context": module("context").Context,
            "stages": [module("perimeter.stage"), module("attachments.stage"), module("lists")]}


def _variant(name: str) -> dict:
    variant = rule_variant(name)
    variant["texts"] = [t for t in variant["compiled"].patterns.targets
                        if t.kind != "header" or not t.header]
    return variant


def _evals(variant: dict, data: bytes) -> tuple[float, list, list]:
    msg = variant["parsed"](data)
    pipeline, compiled = variant["pipeline"], variant["compiled"]
    ctx = variant["context"](msg=msg, config=pipeline.config, offline=True, services=pipeline.services)
    for stage in variant["stages"]:
        stage.run(msg, ctx)
    for target in variant["texts"]:
        compiled.patterns.text_for(msg, target.kind, target.target)
    msg.html_text, msg.html_doc.anchors, msg.urls
    for hit in compiled.match_patterns(msg):
        ctx.add(hit)
    began = time.thread_time()
    hits = compiled.run_evals(msg, ctx)
    spent = time.thread_time() - began
    return spent, sorted((h.rule, h.evidence) for h in hits), list(ctx.errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the other tree (a checkout with mailsphere_cli/ and rules/)")
    parser.add_argument("dirs", nargs="*", default=[str(CORPUS / d) for d in ("ham", "spam", "phish")])
    parser.add_argument("--limit", type=int, default=0, help="messages per folder (0 = all)")
    args = parser.parse_args()
    base = base_tree(args.base, args.dirs)
    if base is None:
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        stage_trees(base, Path(scratch))
        variants = {name: _variant(name) for name in ("ms_base", "ms_this")}
        sources = importlib.import_module("ms_this.sources")
        raws: list[bytes] = []
        for folder in args.dirs:
            items = [i.data for i in sources.iter_sources([folder]) if isinstance(i, sources.RawMessage)]
            raws.extend(items[: args.limit or None])
        spent = {name: 0.0 for name in variants}
        differ = 0
        for index, data in enumerate(raws):
            order = ("ms_base", "ms_this") if index % 2 == 0 else ("ms_this", "ms_base")
            results = {}
            for name in order:
                seconds, hits, errors = _evals(variants[name], data)
                spent[name] += seconds
                results[name] = (hits, errors)
            differ += results["ms_base"] != results["ms_this"]
    count = len(raws)
    before, after = (spent[n] / count * 1000 for n in ("ms_base", "ms_this"))
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"{count} messages, load {load}: evals {before:.3f} ms (base) vs {after:.3f} ms (this tree), "
          f"ratio {after / before:.3f}; messages whose eval hits or errors differ: {differ}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
