"""A scan run: read sources, analyse in workers, record, quarantine, report progress.

Only this (parent) process writes the database and the quarantine. Messages
already recorded for the same rule pack are not analysed again; their stored
verdict is reported as it was.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from mailsphere_cli.sources import RawMessage, SourceProblem, iter_sources
from mailsphere_cli.store.db import Store
from mailsphere_cli.store.move import MoveLog
from mailsphere_cli.store.quarantine import Quarantine
from mailsphere_cli.verdict import Action, VerdictView, clean_text, to_json
from mailsphere_cli.workers import Settings, Workers, startup_warnings

QUARANTINED = (Action.SPAM.value, Action.MALICIOUS.value)


@dataclass
class ScanOptions:
    paths: list[str]
    data_dir: Path
    fmt: str = "auto"
    workers: int | None = None
    rescan: bool = False
    resume: bool = False
    move: bool = False
    quarantine: bool = True


@dataclass
class ScanSummary:
    run_id: int = 0
    rulepack: str = ""
    actions: Counter = field(default_factory=Counter)
    rules: Counter = field(default_factory=Counter)
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    scanned: int = 0
    already_recorded: int = 0
    quarantined: int = 0
    moved: int = 0
    move_failures: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)
    startup: float = 0.0  # seconds spent building the pipeline (rules, YARA, model, workers)
    bytes: int = 0
    # CPU seconds: this process building the pipeline, this process afterwards, and the
    # worker processes (reaped ones; none with one worker).
    cpu_startup: float = 0.0
    cpu_parent: float = 0.0
    cpu_workers: float = 0.0

    @property
    def messages(self) -> int:
        return self.scanned + self.already_recorded

    @property
    def rate(self) -> float:
        """Messages analysed per second once the pipeline was built."""
        busy = self.elapsed - self.startup
        return self.scanned / busy if busy > 0 else 0.0

    def counts(self) -> dict[str, object]:
        return {"actions": dict(self.actions), "scanned": self.scanned,
                "already_recorded": self.already_recorded,
                "skipped_files": sum(1 for p in self.problems if p[1] == "skipped"),
                "unreadable_files": sum(1 for p in self.problems if p[1] == "error"),
                "quarantined": self.quarantined, "moved": self.moved,
                "elapsed_s": round(self.elapsed, 3), "startup_s": round(self.startup, 3),
                "messages_per_s": round(self.rate, 1),
                "cpu_s": {"startup": round(self.cpu_startup, 3),
                          "parent": round(self.cpu_parent, 3),
                          "workers": round(self.cpu_workers, 3)}}


# A sink gets the verdict's main fields (verdict.LIGHT_KEYS at least) and the whole
# verdict as one line of JSON.
VerdictSink = Callable[[dict, str], None]
ProgressSink = Callable[[int, int], None]  # messages done, bytes done


def run_scan(options: ScanOptions, settings: Settings, *, on_verdict: VerdictSink | None = None,
             on_progress: ProgressSink | None = None, stdin=None) -> ScanSummary:
    store = Store(options.data_dir)
    workers = Workers(settings, options.workers)
    summary = ScanSummary()
    started = time.perf_counter()
    cpu_started, children_started = time.process_time(), _children_cpu()
    try:
        workers.start()
        summary.startup = time.perf_counter() - started
        summary.cpu_startup = time.process_time() - cpu_started
        summary.warnings = startup_warnings(workers.pipeline)
        pack_version = workers.pipeline.services["rules"].pack.version
        summary.rulepack = pack_version
        run_id = store.resumable_run(options.paths, pack_version) if options.resume else None
        if run_id is not None:
            store.reopen_run(run_id)
        else:
            run_id = store.start_run(options.paths, pack_version,
                                     {"offline": settings.offline, "skip": list(settings.skip)})
        summary.run_id = run_id
        quarantine = Quarantine(store)
        moves = MoveLog()
        side: list[tuple[str, object]] = []  # problems and already-known verdicts, in order

        def fresh() -> Iterator[RawMessage]:
            for item in iter_sources(options.paths, options.fmt, settings.config.scan.max_size,
                                     stdin):
                if isinstance(item, SourceProblem):
                    side.append(("problem", item))
                    continue
                summary.bytes += item.size
                known = None if options.rescan else store.known(item.id, pack_version)
                if known is not None:
                    side.append(("known", (item, known)))
                    continue
                yield item

        batch: list[tuple[RawMessage, VerdictView]] = []
        batch_bytes = 0
        last_flush = time.monotonic()

        def flush() -> None:
            """Quarantine copies durable first, then the records, then (on request) moves."""
            nonlocal batch_bytes, last_flush
            if not batch:
                return
            held = [(raw, verdict) for raw, verdict in batch
                    if options.quarantine and verdict.light["action"] in QUARANTINED]
            if held:
                quarantine.hold_many([(verdict, raw.data, _notify_policy(settings, verdict))
                                      for raw, verdict in held], [v.text for _, v in held])
                summary.quarantined += len(held)
            store.record(run_id, pack_version, [v for _, v in batch])
            if options.move:
                for raw, verdict in held:
                    _move(raw, verdict.light, store, quarantine, moves, summary)
            batch.clear()
            batch_bytes = 0
            last_flush = time.monotonic()

        def drain_side() -> None:
            while side:
                kind, payload = side.pop(0)
                if kind == "problem":
                    summary.problems.append((payload.origin, payload.kind, payload.reason))
                    store.record_problems(run_id, [(payload.origin, payload.kind, payload.reason)])
                else:
                    item, known = payload
                    summary.already_recorded += 1
                    summary.actions[known["action"]] += 1
                    if options.move and known["action"] in ("spam", "malicious"):
                        _move(item, known, store, quarantine, moves, summary)
                    if on_verdict:
                        record = dict(known, already_recorded=True)
                        on_verdict(record, to_json(record))
                    if on_progress:
                        on_progress(summary.messages, summary.bytes)

        try:
            for raw, verdict in workers.scan(fresh()):
                drain_side()
                light = verdict.light
                summary.scanned += 1
                summary.actions[light["action"]] += 1
                summary.rules.update([hit["rule"] for hit in light["hits"]])
                if light["action"] == "error":
                    summary.errors.append((light["source"], "; ".join(light["errors"])))
                batch.append((raw, verdict))
                batch_bytes += len(raw.data)
                if len(batch) >= 200 or batch_bytes > 32 << 20 \
                        or time.monotonic() - last_flush > 1.0:
                    flush()
                if on_verdict:
                    on_verdict(light, verdict.text)
                if on_progress:
                    on_progress(summary.messages, summary.bytes)
            drain_side()
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            flush()
            moved, failures = moves.apply_mbox(store)
            summary.moved += moved
            summary.move_failures += failures
            summary.elapsed = time.perf_counter() - started
            workers.close(kill=summary.interrupted)
            summary.cpu_parent = time.process_time() - cpu_started - summary.cpu_startup
            summary.cpu_workers = _children_cpu() - children_started
            store.finish_run(run_id, "interrupted" if summary.interrupted else "complete",
                             summary.counts())
    finally:
        workers.close(kill=summary.interrupted)
        store.close()
    summary.elapsed = time.perf_counter() - started
    return summary


def _children_cpu() -> float:
    """CPU seconds of this process's finished (reaped) child processes."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Unix
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _notify_policy(settings: Settings, verdict: VerdictView) -> tuple[str, ...]:
    org = settings.config.orgs.get(verdict.org or "")
    return org.notify_malicious if org else ("recipient",)


def _move(raw: RawMessage, verdict: dict, store: Store, quarantine: Quarantine, moves: MoveLog,
          summary: ScanSummary) -> None:
    """Remove the source copy; only called once the quarantine copy is durable."""
    qid = quarantine.qid_for_id(verdict["id"])
    row = store.db.execute("SELECT qid FROM quarantine WHERE qid = ?", (qid,)).fetchone()
    if row is None:
        summary.move_failures.append(f"{raw.origin}: not in quarantine, left in place")
        return
    error = moves.move(raw, qid, store)
    if error:
        summary.move_failures.append(f"{raw.origin}: {error}")
    elif raw.location.kind != "mbox":
        summary.moved += 1


def write_output(path: Path) -> tuple[VerdictSink, Callable[[], None]]:
    """A sink writing verdicts to FILE.jsonl or FILE.csv."""
    handle = open(path, "w", encoding="utf-8", newline="")
    if path.suffix.lower() == ".csv":
        import csv
        columns = ["id", "source", "from", "to", "subject", "score", "threshold", "action",
                   "decided_by", "hits", "errors", "elapsed_ms"]
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()

        def sink(record: dict, text: str) -> None:
            row = {key: clean_text(value) for key, value in record.items()}
            row["to"] = clean_text(";".join(record.get("to", [])))
            row["hits"] = ";".join(f"{h['rule']}={h['score']}" for h in record.get("hits", []))
            row["errors"] = clean_text(";".join(record.get("errors", [])))
            writer.writerow(row)
    else:
        def sink(record: dict, text: str) -> None:
            handle.write(text + "\n")
    return sink, handle.close
