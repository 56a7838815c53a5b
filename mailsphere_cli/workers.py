"""Where messages are analysed: in this process, or in a pool of worker processes.

The scan loop only sees `Workers.scan(messages) -> iterator of (message, verdict view)`;
a Dask cluster can take the pool's place behind the same method. The pipeline
(compiled rules, resolver, YARA, model) is built once in the parent, which also
proves the rule pack and config good before any message is read; on Linux the
workers are forked from it and inherit it ready-made (joblib's loky pool was
measured here: each of its spawned workers spent 5-10 s importing and building
the pipeline again, longer than scanning the whole shared corpus). Where fork
is unavailable, spawned workers build their own pipeline once, in an initializer.
A message that raises, overruns its time budget or kills its worker becomes an
`error` verdict; the run goes on.
"""
from __future__ import annotations

import gc
import itertools
import math
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from mailsphere_cli.config import Config
from mailsphere_cli.pipeline import Pipeline, error_verdict
from mailsphere_cli.sources import FileRef, RawMessage, SourceProblem, expand_ref, read_ref
from mailsphere_cli.verdict import Action, Encoded, Verdict, VerdictView, encode


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs to build its pipeline (picklable)."""

    config: Config
    rules_dirs: tuple[str, ...] = ()
    offline: bool = True
    dns_servers: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    yara_dirs: tuple[str, ...] = ()
    model: str | None = None
    message_timeout: float = 30.0
    data_dir: str = ""  # where per-organisation models and user lists live


def build_pipeline(settings: Settings) -> Pipeline:
    from mailsphere_cli.rules.engine import CompiledRules
    from mailsphere_cli.rules.loader import load_rules

    config = settings.config
    pack = load_rules(list(settings.rules_dirs) or None)
    services: dict[str, Any] = {"rules": CompiledRules(pack), "settings": settings}
    optional = (
        ("mailsphere_cli.perimeter", lambda m: m.build_services(
            config, settings.offline, list(settings.dns_servers) or None)),
        ("mailsphere_cli.attachments", lambda m: m.build_services(
            config, list(config.yara_dirs) + list(settings.yara_dirs))),
        ("mailsphere_cli.classifier", lambda m: m.build_services(
            config, settings.model, settings.data_dir or None)),
    )
    import importlib
    for module_name, build in optional:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        if hasattr(module, "build_services"):
            services.update(build(module))
    return Pipeline(config, services, offline=settings.offline, skip=settings.skip)


def startup_warnings(pipeline: Pipeline) -> list[str]:
    """What the user should hear once, not on every verdict: an unusable model."""
    warnings = []
    models = pipeline.services.get("classifier")
    if models is not None and getattr(models, "default", None) is None \
            and "classifier" not in pipeline.skip:
        warnings.append(f"classifier off: {models.default_problem} (messages list it under "
                        f"`skipped`)")
    for org, problem in (getattr(models, "org_problems", None) or {}).items():
        warnings.append(f"organisation {org}: {problem}; its mail uses the default model")
    return warnings


class MessageTimeout(BaseException):
    """BaseException, so the `except Exception` guards of stages and checks let it through."""


# An alarm this close to the running message's deadline stops it (re-arming the timer
# for a few microseconds would only come back).
_ALARM_SLACK = 1e-4


def scan_one(pipeline: Pipeline, raw: RawMessage, timeout: float) -> Verdict:
    return scan_batch(pipeline, [raw], timeout)[0]


def scan_batch(pipeline: Pipeline, raws: list[RawMessage], timeout: float) -> list[Verdict]:
    """The verdicts of a batch, in order, analysed stage by stage: every message is
    parsed, then every message goes through the perimeter, and so on (one stage's code
    and data stay in the CPU caches across the batch: 10-20 % less CPU a message on the
    corpus than one message after the other). Each message keeps its own time budget
    (`timeout` seconds over all its steps) and its own fate: one that raises outside a
    stage's guard or overruns its budget becomes an `error` verdict and leaves the batch;
    the others go on."""
    use_alarm = timeout > 0 and hasattr(signal, "setitimer")
    count = len(raws)
    verdicts: list[Verdict | None] = [None] * count
    contexts: list[Any] = [None] * count
    spent = [0.0] * count  # seconds each message has had so far
    clock = time.perf_counter
    # One interval timer serves the whole batch (arming and disarming it around every
    # step of every message was two system calls a step, sixteen a message). `due` is
    # the deadline of the message now in a step (None between steps), `armed` when the
    # timer fires (inf: not armed). A step arms it only when its message is due before
    # that; otherwise the alarm, when it comes, looks at whose step is running: a message
    # past its own deadline is stopped, any other is given the rest of its time.
    due: float | None = None
    armed = math.inf

    def on_alarm(signum, frame):  # noqa: ANN001, ANN202, ARG001
        nonlocal armed
        if due is None:
            armed = math.inf  # between steps: the next step arms it again
            return
        left = due - clock()
        if left <= _ALARM_SLACK:
            armed = math.inf
            raise MessageTimeout()
        armed = due
        signal.setitimer(signal.ITIMER_REAL, left)

    def step(i: int, call, *args):  # noqa: ANN001, ANN202
        nonlocal due, armed
        began = clock()
        if use_alarm:
            left = timeout - spent[i]
            if left <= 0:
                verdicts[i] = error_verdict(raws[i], f"timed out after {timeout:g} s",
                                            spent[i] * 1000)
                return None
            due = began + left
            if due < armed:
                armed = due
                signal.setitimer(signal.ITIMER_REAL, left)
        try:
            return call(*args)
        except MessageTimeout:
            due = None
            verdicts[i] = error_verdict(raws[i], f"timed out after {timeout:g} s",
                                        (spent[i] + clock() - began) * 1000)
        except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001
            due = None  # an alarm now must not stop the making of this error verdict
            verdicts[i] = error_verdict(raws[i], f"{type(exc).__name__}: {exc}"[:500],
                                        (spent[i] + clock() - began) * 1000)
        finally:
            due = None
            spent[i] += clock() - began
        return None

    previous = signal.signal(signal.SIGALRM, on_alarm) if use_alarm else None
    try:
        for i, raw in enumerate(raws):
            contexts[i] = step(i, pipeline.begin, raw)
        for name, stage in pipeline.stages:
            # the parts of its work a stage does ahead, each over the whole batch first
            for prepare in getattr(stage, "PREPARE", ()):
                for i in range(count):
                    if verdicts[i] is None:
                        step(i, pipeline.prepare_stage, name, stage, prepare, contexts[i])
            for i in range(count):
                if verdicts[i] is None:
                    step(i, pipeline.run_stage, name, stage, contexts[i])
        for i, raw in enumerate(raws):
            if verdicts[i] is None:
                # elapsed_ms: this message's own time, not the batch's
                verdict = step(i, pipeline.finish, raw, contexts[i], clock() - spent[i])
                if verdict is not None:
                    verdicts[i] = verdict
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    return verdicts  # type: ignore[return-value]


# -- worker process side -----------------------------------------------------
_PIPELINE: Pipeline | None = None
_SETTINGS: Settings | None = None



# A worker's young-generation collection every 20,000 container allocations instead of
# 700: nearly everything a message allocates dies with its chunk, so a collection finds
# next to nothing (5 objects over the corpus), yet one of some 6000 young objects took
# 3-5 ms. The collector's time per message (thread CPU, corpus, pipeline frozen) was 0.17 ms before
# freezing, 0.11 ms at 700, 0.04-0.06 at 5000 (25 young and 2 middle collections over
# the corpus), 0.023-0.029 at 20,000 (5 young ones). Cycles are still collected, later.
_WORKER_GC_THRESHOLD = (20_000, 10, 10)


def _init_forked() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    gc.enable()  # forked while the parent's collector was off (Workers.start)
    gc.set_threshold(*_WORKER_GC_THRESHOLD)


def _init_spawned(settings: Settings) -> None:
    global _PIPELINE, _SETTINGS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _SETTINGS = settings
    _PIPELINE = build_pipeline(settings)
    gc.freeze()
    gc.set_threshold(*_WORKER_GC_THRESHOLD)


def _crashed(raw: RawMessage, error: str) -> tuple[RawMessage, VerdictView]:
    return raw, VerdictView.of(error_verdict(raw, error))


# Actions whose message the parent keeps (quarantines): their bytes go back to it.
HELD_ACTIONS = (Action.SPAM.value, Action.MALICIOUS.value)

# What a worker sends back for each entry of a chunk: the message it read from a FileRef
# when it is held (None otherwise: the parent has the messages it sent, and needs the
# others' bytes for nothing) with its verdict; or the problem met reading a FileRef; or,
# for a FileRef that is an mbox of several messages, None (the parent frames it and sends
# its messages).
Result = tuple[RawMessage | None, Encoded] | SourceProblem | None


def _scan_chunk(chunk: list[tuple[int, RawMessage | FileRef]]) -> list[tuple[int, Result]]:
    """Read what the chunk names, analyse it in batches of BATCH messages (and at most
    CHUNK_BYTES, so a chunk of large files read here holds no more memory than one the
    parent would have sent)."""
    assert _PIPELINE is not None and _SETTINGS is not None
    results: list[tuple[int, Result]] = []
    batch: list[tuple[int, RawMessage, bool]] = []  # (key, message, read here)
    size = 0

    def flush() -> None:
        verdicts = scan_batch(_PIPELINE, [raw for _, raw, _ in batch],
                              _SETTINGS.message_timeout)
        for (key, raw, read_here), verdict in zip(batch, verdicts):
            back = raw if read_here and verdict.action.value in HELD_ACTIONS else None
            results.append((key, (back, encode(verdict))))
        batch.clear()

    for key, item in chunk:
        read_here = isinstance(item, FileRef)
        if read_here:
            item = read_ref(item, _SETTINGS.config.scan.max_size)
        if not isinstance(item, RawMessage):  # a problem, or None (see Result)
            results.append((key, item))
            continue
        batch.append((key, item, read_here))
        size += len(item.data)
        if len(batch) >= BATCH or size >= CHUNK_BYTES:
            flush()
            size = 0
    if batch:
        flush()
    return results


# -- parent side ---------------------------------------------------------------
# Messages out in the pool at once: `window` chunks of up to `chunk` messages, and no
# more bytes than these (a chunk of 25 MiB messages must not hold the run's memory).
CHUNK_BYTES = 8 << 20
WINDOW_BYTES = 64 << 20
# Messages a worker analyses together, stage by stage (scan_batch), and messages sent to
# it at once: two batches. Each chunk costs this process a round through the pool's
# threads (its manager thread polling the pipes, unpickling the results, handing them
# over; its feeder thread pickling the next chunk): 0.8-1.0 ms of CPU a chunk, or
# 0.05-0.06 ms a message with chunks of 16, taken from the workers' two cores.
# Batches of 32 rather than 16: a worker's CPU a message 3-6 % lower (ab_chunks.py, both
# ways round, 0 records differ); 64 was no better than 32 (0.973 one way, 0.970 the other).
BATCH = 32
CHUNK = 2 * BATCH
# The run's last messages go out in smaller chunks (down to this many), so that the
# workers finish together: with whole chunks (16 messages were 45-150 ms of a worker's time
# on the corpus) one worker sat idle for a large part of one while the other did the last.
TAIL_CHUNK = 4


def tail_chunk(left: int, chunk: int, workers: int) -> int:
    """The size of the next chunk when `left` messages are all that is left to send: a
    share of them small enough that every worker still gets about two more chunks."""
    return max(TAIL_CHUNK, min(chunk, -(-left // (2 * workers))))


def next_chunk(source: Iterator[tuple[int, RawMessage | FileRef]], count: int,
               size: int) -> list[tuple[int, RawMessage | FileRef]]:
    """The next messages to send together: up to `count` of them, and fewer once they
    hold `size` bytes (always at least one, however large; a FileRef counts none)."""
    chunk, total = [], 0
    for key, raw in source:
        chunk.append((key, raw))
        if isinstance(raw, RawMessage):
            total += len(raw.data)
        if len(chunk) >= count or total >= size:
            break
    return chunk


class Workers:
    """`workers == 1`: in this process. More: a process pool."""

    def __init__(self, settings: Settings, workers: int | None = None, chunk: int = CHUNK,
                 fork_lock: threading.Lock | None = None):
        self.settings = settings
        # Held by this process's other threads while they are inside SQLite or file
        # writes: a fork copies whatever locks are held at that instant into the child.
        self.fork_lock = fork_lock or threading.Lock()
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.chunk = chunk
        self._pipeline: Pipeline | None = None
        self._executor: ProcessPoolExecutor | None = None
        # Set by `scan` once every message it was given has gone out to be analysed (only
        # the verdicts of the last chunks are still to come).
        self.fed_all = False

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self.start()
        return self._pipeline

    def start(self) -> None:
        """Build the pipeline now, so a bad rule pack fails before any message is read."""
        # Building it makes ~30,000 long-lived objects (rules, model, YARA) and next to no
        # garbage (about 400 objects in cycles). The collector stays off until a pool has
        # frozen them out of its care (_new_executor) and forked, so it never walks them:
        # its passes while they were made, and the one over all of them when it came back
        # on, were 0.03-0.05 s of CPU. (In one process its next pass walks them once.)
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._pipeline = build_pipeline(self.settings)
            if self.workers > 1:
                self._executor = self._new_executor()
        finally:
            if collecting:
                gc.enable()

    def _new_executor(self) -> ProcessPoolExecutor:
        global _PIPELINE, _SETTINGS
        if "fork" in multiprocessing.get_all_start_methods():
            _PIPELINE, _SETTINGS = self._pipeline, self.settings  # what the forks inherit
            executor = ProcessPoolExecutor(self.workers, multiprocessing.get_context("fork"),
                                           initializer=_init_forked)
            # The pipeline's objects (rules, model, YARA: ~50,000 containers) leave the
            # collector's care: a full collection no longer walks them, in the workers or
            # here, nor writes to their pages, which the forks keep sharing.
            gc.freeze()
            with self.fork_lock:
                executor.submit(int)  # forks every worker now, while no other thread writes
            return executor
        return ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"),
                                   initializer=_init_spawned, initargs=(self.settings,))

    def scan(self, messages: Iterable[RawMessage | FileRef]
             ) -> Iterator[tuple[RawMessage, VerdictView] | tuple[SourceProblem, None]]:
        """Each message with its verdict (the JSON record behind a read-only view). A
        FileRef is read where it is analysed: the message comes back only when it is held
        (HELD_ACTIONS; else None in its place, the verdict names it), and a file that is
        not a message comes back as its problem, without a verdict."""
        if self._pipeline is None:
            self.start()
        self.fed_all = False
        if self.workers == 1:
            yield from self._scan_here(messages)
            return
        yield from self._scan_pool(messages)

    def _scan_here(self, messages: Iterable[RawMessage | FileRef]
                   ) -> Iterator[tuple[RawMessage, VerdictView] | tuple[SourceProblem, None]]:
        """In this process, in the batches a worker analyses (BATCH messages or CHUNK_BYTES)."""
        limit = self.settings.config.scan.max_size
        batch: list[RawMessage] = []
        size = 0

        def analyse() -> Iterator[tuple[RawMessage, VerdictView]]:
            for raw, verdict in zip(batch, scan_batch(self._pipeline, batch,
                                                      self.settings.message_timeout)):
                yield raw, VerdictView.of(verdict)

        for message in messages:
            for item in (expand_ref(message, limit) if isinstance(message, FileRef)
                         else (message,)):
                if isinstance(item, SourceProblem):
                    yield item, None
                    continue
                batch.append(item)
                size += len(item.data)
                if len(batch) >= min(self.chunk, BATCH) or size >= CHUNK_BYTES:
                    yield from analyse()
                    batch, size = [], 0
        self.fed_all = True
        if batch:
            yield from analyse()

    def _scan_pool(self, messages: Iterable[RawMessage | FileRef]
                   ) -> Iterator[tuple[RawMessage, VerdictView] | tuple[SourceProblem, None]]:
        # A dying worker breaks the whole pool and fails every future in flight, so
        # the culprit cannot be told from its neighbours. After a break, the messages
        # that were out are retried one at a time, alone in the pool: a message that
        # breaks it then is the one that kills its worker.
        Entry = RawMessage | FileRef | SourceProblem
        pending: dict[Future, tuple[list[tuple[int, Entry]], bool]] = {}
        held: dict[int, Entry] = {}
        held_bytes = 0
        suspects: list[tuple[int, Entry]] = []
        limit = self.settings.config.scan.max_size
        source = iter(messages)
        source_done = False
        # The messages of an mbox a worker gave back (several messages in one file): framed
        # here, lazily, and sent with their bytes before the next files.
        framed: deque[Iterator[RawMessage | SourceProblem]] = deque()
        keys = itertools.count()
        window = self.workers * 3
        # Read ahead of what is sent (a window's worth of messages, at most CHUNK_BYTES of
        # them), so that the source's end is seen before its last messages go out and they
        # can be sent in smaller chunks (tail_chunk).
        ahead: deque[RawMessage | FileRef | SourceProblem] = deque()
        ahead_bytes = 0
        lookahead = window * self.chunk

        def read_ahead() -> None:
            nonlocal source_done, ahead_bytes
            while not source_done and len(ahead) < lookahead and ahead_bytes < CHUNK_BYTES:
                item = next(source, None)
                if item is None:
                    source_done = True
                    break
                ahead.append(item)
                if isinstance(item, RawMessage):
                    ahead_bytes += len(item.data)

        def feed() -> Iterator[tuple[int, Entry]]:
            nonlocal ahead_bytes
            while True:
                if framed:
                    item = next(framed[0], None)
                    if item is None:
                        framed.popleft()
                        continue
                else:
                    read_ahead()
                    if not ahead:
                        self.fed_all = True
                        return
                    item = ahead.popleft()
                    if isinstance(item, RawMessage):
                        ahead_bytes -= len(item.data)
                yield next(keys), item

        def chunk_size() -> int:
            read_ahead()
            if source_done and not framed:
                return tail_chunk(len(ahead), self.chunk, self.workers)
            return self.chunk

        def release(key: int) -> Entry | None:
            nonlocal held_bytes
            item = held.pop(key, None)
            if isinstance(item, RawMessage):
                held_bytes -= len(item.data)
            return item

        def submit(chunk: list[tuple[int, Entry]], alone: bool) -> None:
            pending[self._executor.submit(_scan_chunk, chunk)] = (chunk, alone)

        def crashed(item: Entry, error: str) -> Iterator[tuple[Any, Any]]:
            if isinstance(item, FileRef):  # read here, to name what was lost
                for part in expand_ref(item, limit):
                    yield from crashed(part, error)
            elif isinstance(item, SourceProblem):
                yield item, None
            else:
                yield _crashed(item, error)

        while True:
            if suspects:
                if not pending:
                    submit([suspects.pop(0)], alone=True)
            else:
                while len(pending) < window and (not pending or held_bytes < WINDOW_BYTES):
                    chunk = next_chunk(feed(), chunk_size(), CHUNK_BYTES)
                    if not chunk:
                        break
                    for key, item in chunk:
                        held[key] = item
                        if isinstance(item, RawMessage):
                            held_bytes += len(item.data)
                    submit(chunk, alone=False)
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                chunk, alone = pending.pop(future)
                try:
                    results = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker died
                    broken = True
                    if alone:
                        key, item = chunk[0]
                        release(key)
                        yield from crashed(item, f"worker crashed: {type(exc).__name__}")
                    else:
                        suspects.extend(chunk)
                    continue
                for key, result in results:
                    item = release(key)
                    if result is None:  # an mbox of several messages
                        framed.append(expand_ref(item, limit))
                    elif isinstance(result, SourceProblem):
                        yield result, None
                    else:
                        raw, encoded = result
                        if raw is None and isinstance(item, RawMessage):
                            raw = item
                        yield raw, VerdictView(*encoded)
            if broken:
                for chunk, _ in pending.values():
                    suspects.extend(chunk)
                pending.clear()
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._new_executor()

    def close(self, kill: bool = False) -> None:
        """Stop the pool. Interrupted (`kill`): queued work is cancelled, running chunks get
        their time budget to finish (killing a worker mid-write can wedge the pool's
        result queue, and with it the exit), and only then are stragglers killed."""
        if self._executor is None:
            return
        executor, self._executor = self._executor, None
        if not kill:
            executor.shutdown(wait=True)
            return
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + 2 * self.settings.message_timeout
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in processes:
            if process.is_alive():
                process.kill()
