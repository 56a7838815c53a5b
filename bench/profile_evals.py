"""Where the eval rules spend their time: CPU time per check function over the corpus.

    python3 bench/profile_evals.py [--limit N] [--top 20] [DIR ...]

Each message is parsed and taken through the perimeter and attachments stages
(offline) and its views are built first, as in bench_rules.py, and so are the header views the checks read
(sender addresses, recipients, Date, Message-ID; timed apart); then every
group of eval rules (all rules calling one check function, run through the
batch form when the check has one, exactly as the engine does) is timed on
its own with `time.thread_time()`. Prints the top check functions by total
time, with their rule count and how often they fired, then the meta rules'
share. Note `uptime` load next to the numbers.
"""
from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

from corpus import add_corpus_args, corpus_messages  # also puts the repository on sys.path

from mailsphere_cli.config import Config  # noqa: E402
from mailsphere_cli.context import Context  # noqa: E402
from mailsphere_cli.message import ParsedMessage  # noqa: E402
from mailsphere_cli.workers import Settings, build_pipeline  # noqa: E402


def _groups(plan):
    """The plan's steps as (check, rules, argument dicts, calls), one per check function."""
    from mailsphere_cli.rules.checks import CHECKS
    grouped: dict[str, tuple] = {}
    for batch, rules, args_list, calls in plan.steps:
        key = getattr(batch, "memo_key", "")
        if key:  # the rules of a keyed run, answered together (from memory when seen)
            name = f"[{key} rules from {rules[0].function}]"
            grouped[name] = (SimpleNamespace(name=name, batch=batch, fn=None), rules, args_list, calls)
        else:
            grouped[rules[0].function] = (CHECKS[rules[0].function], rules, args_list, calls)
    return list(grouped.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_corpus_args(parser)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    raws = corpus_messages(args)
    if raws is None:
        return 2
    pipeline = build_pipeline(Settings(config=Config(), offline=True, skip=("classifier",)))
    compiled = pipeline.services["rules"]
    from mailsphere_cli.attachments import stage as attachments
    from mailsphere_cli.perimeter import stage as perimeter
    spent: dict[str, float] = {}
    fired: dict[str, int] = {}
    rule_count: dict[str, int] = {}
    metas_s = 0.0
    header_views_s = 0.0
    messages = 0
    for raw in raws:
        msg = ParsedMessage(raw.data)
        ctx = Context(msg=msg, config=pipeline.config, offline=True, services=pipeline.services)
        perimeter.run(msg, ctx)
        attachments.run(msg, ctx)
        msg.body, msg.urls, msg.header_block, msg.raw_text, msg.html_text
        msg.html_doc.anchors, msg.parts
        began = time.thread_time()
        msg.from_addr, msg.from_domain, msg.reply_to, msg.return_path, msg.to_addrs
        msg.date, msg.message_id, msg.subject
        header_views_s += time.thread_time() - began
        for hit in compiled.match_patterns(msg):
            ctx.add(hit)
        plan = compiled._eval_plan(msg, ctx)
        for check, rules, args_list, _ in _groups(plan):
            began = time.thread_time()
            results = check.batch(msg, ctx, args_list) if check.batch is not None else \
                [check.fn(msg, ctx, **a) for a in args_list]
            spent[check.name] = spent.get(check.name, 0.0) + time.thread_time() - began
            fired[check.name] = fired.get(check.name, 0) + sum(1 for r in results if r)
            rule_count[check.name] = len(rules)
        for hit in compiled.run_evals(msg, ctx):
            ctx.add(hit)
        began = time.thread_time()
        compiled.run_metas(ctx)
        metas_s += time.thread_time() - began
        messages += 1
    total = sum(spent.values())
    print(f"{messages} messages; eval checks {total / messages * 1000:.3f} ms/message, "
          f"metas {metas_s / messages * 1000:.3f} ms/message; header views they read (built "
          f"first, not counted above) {header_views_s / messages * 1000:.3f} ms/message")
    print(f"{'check':38} {'rules':>5} {'us/msg':>8} {'share':>6} {'fired':>6}")
    for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{name:38} {rule_count[name]:5} {seconds / messages * 1e6:8.1f} "
              f"{seconds / total:6.1%} {fired[name]:6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
