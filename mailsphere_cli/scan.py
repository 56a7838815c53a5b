"""A scan run: read sources, analyse in workers, record, quarantine, report progress.

Only this (parent) process writes the database and the quarantine. Messages
already recorded for the same rule pack are not analysed again; their stored
verdict is reported as it was.
"""
from __future__ import annotations

import queue
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Callable, Iterator

from mailsphere_cli import code_cache, regex_cache
from mailsphere_cli.sources import FileRef, RawMessage, SourceProblem, iter_sources
from mailsphere_cli.store.db import Store
from mailsphere_cli.store.move import MoveLog
from mailsphere_cli.store.quarantine import Quarantine
from mailsphere_cli.verdict import VerdictView, clean_text, to_json
from mailsphere_cli.workers import HELD_ACTIONS, Settings, Workers, startup_warnings

QUARANTINED = HELD_ACTIONS  # what a scan holds (workers send these messages' bytes back)
_RULE = itemgetter("rule")


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
    # Peak resident memory in MiB, as the kernel counted it: this process, and the largest
    # of the worker processes (reaped ones; 0 with one worker).
    peak_rss_parent: float = 0.0
    peak_rss_worker: float = 0.0

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
                          "workers": round(self.cpu_workers, 3)},
                "peak_rss_mib": {"parent": round(self.peak_rss_parent, 1),
                                 "worker": round(self.peak_rss_worker, 1)}}


# A sink gets the verdict's main fields (verdict.LIGHT_KEYS at least) and the whole
# verdict as one line of JSON.
VerdictSink = Callable[[dict, str], None]
ProgressSink = Callable[[int, int], None]  # messages done, bytes done


def run_scan(options: ScanOptions, settings: Settings, *, on_verdict: VerdictSink | None = None,
             on_progress: ProgressSink | None = None, stdin=None) -> ScanSummary:
    store = Store(options.data_dir)
    fork_lock = threading.Lock()
    workers = Workers(settings, options.workers, fork_lock=fork_lock)
    summary = ScanSummary()
    started = time.perf_counter()
    cpu_started, children_started = time.process_time(), _children_cpu()
    try:
        workers.start()
        regex_cache.save()  # every pattern of the start-up is compiled (see regex_cache)
        code_cache.save()  # and every class made
        summary.startup = time.perf_counter() - started
        summary.cpu_startup = time.process_time() - cpu_started
        summary.warnings = startup_warnings(workers.pipeline)
        pack_version = workers.pipeline.services["rules"].pack.version
        summary.rulepack = pack_version
        run_id = store.resumable_run(options.paths, pack_version) if options.resume else None
        # Nothing can be recorded for this rule pack before its first run: the scan then asks
        # the store about no message (a query a message; within one run a message met twice
        # is analysed twice, its last verdict recorded).
        check_known = not options.rescan and (run_id is not None
                                              or store.has_run_of(pack_version))
        if run_id is not None:
            store.reopen_run(run_id)
        else:
            run_id = store.start_run(options.paths, pack_version,
                                     {"offline": settings.offline, "skip": list(settings.skip)})
        summary.run_id = run_id
        recorder = _Recorder(options, settings, run_id, pack_version, summary, fork_lock)
        side: list[tuple[str, object]] = []  # problems and already-known verdicts, in order

        # With a pool and nothing to look up first, the workers read the files of folders
        # and Maildirs themselves (sources.FileRef): this process sends names, not bytes,
        # and gets bytes back only for the mail it holds.
        defer = workers.workers > 1 and not check_known

        def fresh() -> Iterator[RawMessage | FileRef]:
            for item in iter_sources(options.paths, options.fmt, settings.config.scan.max_size,
                                     stdin, defer=defer):
                if isinstance(item, SourceProblem):
                    side.append(("problem", item))
                    continue
                if check_known:
                    known = store.known(item.id, pack_version)
                    if known is not None:
                        summary.bytes += item.size
                        side.append(("known", (item, known)))
                        if len(side) >= 256:  # a re-scan of a large mailbox: keep memory flat
                            drain_side()
                        continue
                yield item

        batch: list[tuple[RawMessage, VerdictView]] = []
        batch_bytes = 0
        checkpointed = False
        last_flush = time.monotonic()

        def flush() -> None:
            nonlocal batch, batch_bytes, last_flush
            if batch:
                recorder.put("verdicts", batch)
                batch = []
            batch_bytes = 0
            last_flush = time.monotonic()

        def drain_side() -> None:
            while side:
                kind, payload = side.pop(0)
                if kind == "problem":
                    summary.problems.append((payload.origin, payload.kind, payload.reason))
                    recorder.put("problem", (payload.origin, payload.kind, payload.reason))
                else:
                    item, known = payload
                    summary.already_recorded += 1
                    summary.actions[known["action"]] += 1
                    if options.move and known["action"] in QUARANTINED:
                        recorder.put("move", (item, known))
                    if on_verdict:
                        record = dict(known, already_recorded=True)
                        on_verdict(record, to_json(record))
                    if on_progress:
                        on_progress(summary.messages, summary.bytes)

        try:
            for raw, verdict in workers.scan(fresh()):
                if verdict is None:  # a file a worker read is not a message
                    side.append(("problem", raw))
                    drain_side()
                    continue
                drain_side()
                light = verdict.light
                summary.bytes += light["size"]
                summary.scanned += 1
                summary.actions[light["action"]] += 1
                summary.rules.update(map(_RULE, light["hits"]))
                if light["action"] == "error":
                    summary.errors.append((light["source"], "; ".join(light["errors"])))
                batch.append((raw, verdict))  # raw: None for mail not held, read by a worker
                if raw is not None:
                    batch_bytes += len(raw.data)
                # Verdicts go to the recorder 200 at a time; once every message has gone
                # out to be analysed (what is left is a few chunks in the pool), a chunk's
                # worth at a time, so that little is left to write after the last verdict
                # (a batch of 200 took the recorder 0.1-0.2 s there, the workers idle).
                if workers.fed_all and not checkpointed:
                    # Every message is out to be analysed: what the database's write-ahead
                    # log holds is copied into the database file now, while the workers
                    # finish, so that the last connection's close, after the last verdict,
                    # has only the last few hundred verdicts to copy (see Store.checkpoint).
                    checkpointed = True
                    flush()
                    recorder.put("checkpoint", None)
                if len(batch) >= (workers.chunk if workers.fed_all else 200) \
                        or batch_bytes > 32 << 20 \
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
            try:
                flush()
                # The pool stops while the recorder writes what it still has (they wait on
                # different things: the workers' exit, the disk), and copies the database's
                # write-ahead log into it.
                recorder.finish()
                workers.close(kill=summary.interrupted)
            finally:
                recorder.close()  # everything handed over is written before the run is closed
            summary.elapsed = time.perf_counter() - started
            workers.close(kill=summary.interrupted)
            summary.cpu_parent = time.process_time() - cpu_started - summary.cpu_startup
            summary.cpu_workers = _children_cpu() - children_started
            summary.peak_rss_parent, summary.peak_rss_worker = _peak_rss()
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


def _peak_rss() -> tuple[float, float]:
    """Peak resident memory (MiB) of this process and of its largest reaped child: the
    kernel keeps both (Linux counts ru_maxrss in KiB), so nothing has to poll for them."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Unix
        return 0.0, 0.0
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20  # macOS counts bytes
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale)


def _notify_policy(settings: Settings, verdict: VerdictView) -> tuple[str, ...]:
    org = settings.config.orgs.get(verdict.org or "")
    return org.notify_malicious if org else ("recipient",)


class _Recorder:
    """Writes what the scan produced, in the order it was handed over, on its own thread
    and its own database connection: quarantine copies (durable first), then the verdict
    records, then (with --move) the removal of the source copies; problems; moves of
    mail recorded by an earlier run; at the end, the mbox rewrites.

    Those writes mostly wait on the disk (a batch's files and transaction took 0.1-0.7 s
    on a busy shared machine); done in the scan loop, that wait let the workers run dry.
    A failure here stops the recording and is raised in the scan loop at its next
    hand-over (or at close). The queue is short, so memory stays bounded.
    """

    def __init__(self, options: ScanOptions, settings: Settings, run_id: int, pack_version: str,
                 summary: ScanSummary, fork_lock: threading.Lock):
        self.options, self.settings, self.summary = options, settings, summary
        self.fork_lock = fork_lock  # held while writing: the pool forks only between writes
        self.run_id, self.pack_version = run_id, pack_version
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._finished = False  # the end (None) is queued
        self._error: BaseException | None = None
        # A daemon: should the scan loop die without closing it (a second Ctrl-C), exit is
        # not held up; what it was writing is atomic on disk (files renamed, transactions).
        self._thread = threading.Thread(target=self._run, name="mailsphere-recorder",
                                        daemon=True)
        self._thread.start()

    def put(self, kind: str, payload: object) -> None:
        self._raise()
        self._queue.put((kind, payload))

    def finish(self) -> None:
        """Nothing more comes: write what is queued, then end (without waiting for it)."""
        if not self._finished:
            self._finished = True
            self._queue.put(None)

    def close(self) -> None:
        if self._thread.is_alive():
            self.finish()
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        store = None
        try:
            with self.fork_lock:
                store = Store(self.options.data_dir)
            quarantine, moves = Quarantine(store), MoveLog()
            while (item := self._queue.get()) is not None:
                kind, payload = item
                with self.fork_lock:
                    if kind == "verdicts":
                        self._verdicts(payload, store, quarantine, moves)
                    elif kind == "problem":
                        store.record_problems(self.run_id, [payload])
                    elif kind == "checkpoint":
                        store.checkpoint()
                    else:
                        raw, known = payload
                        _move(raw, known, store, quarantine, moves, self.summary)
            with self.fork_lock:
                moved, failures = moves.apply_mbox(store)
            self.summary.moved += moved
            self.summary.move_failures += failures
            # The rest of the log too, while the pool stops, and the log emptied: the last
            # connection's close, after the run's record, then has a page or two to copy.
            with self.fork_lock:
                store.checkpoint(last=True)
        except BaseException as exc:  # noqa: BLE001 - handed to the scan loop
            self._error = exc
            while self._queue.get() is not None:  # let the scan loop hand over and finish
                pass
        finally:
            if store is not None:
                with self.fork_lock:
                    store.close()

    def _verdicts(self, batch: list[tuple[RawMessage | None, VerdictView]], store: Store,
                  quarantine: Quarantine, moves: MoveLog) -> None:
        held = [(raw, verdict) for raw, verdict in batch
                if self.options.quarantine and verdict.light["action"] in QUARANTINED]
        if held:
            quarantine.hold_many([(verdict, raw.data, _notify_policy(self.settings, verdict))
                                  for raw, verdict in held], [v.text for _, v in held])
            self.summary.quarantined += len(held)
        store.record(self.run_id, self.pack_version, [v for _, v in batch])
        if self.options.move:
            for raw, verdict in held:
                _move(raw, verdict.light, store, quarantine, moves, self.summary)


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
