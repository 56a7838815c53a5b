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

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from mailsphere_cli.config import Config
from mailsphere_cli.pipeline import Pipeline, error_verdict
from mailsphere_cli.sources import RawMessage
from mailsphere_cli.verdict import Encoded, Verdict, VerdictView, encode


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


def _alarm(signum, frame):  # noqa: ARG001
    raise MessageTimeout()


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

    def step(i: int, call, *args):  # noqa: ANN001, ANN202
        began = time.perf_counter()
        if use_alarm:
            left = timeout - spent[i]
            if left <= 0:
                verdicts[i] = error_verdict(raws[i], f"timed out after {timeout:g} s",
                                            spent[i] * 1000)
                return None
            signal.setitimer(signal.ITIMER_REAL, left)
        try:
            return call(*args)
        except MessageTimeout:
            verdicts[i] = error_verdict(raws[i], f"timed out after {timeout:g} s",
                                        (spent[i] + time.perf_counter() - began) * 1000)
        except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001
            verdicts[i] = error_verdict(raws[i], f"{type(exc).__name__}: {exc}"[:500],
                                        (spent[i] + time.perf_counter() - began) * 1000)
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
            spent[i] += time.perf_counter() - began
        return None

    previous = signal.signal(signal.SIGALRM, _alarm) if use_alarm else None
    try:
        for i, raw in enumerate(raws):
            contexts[i] = step(i, pipeline.begin, raw)
        for name, stage in pipeline.stages:
            for i in range(count):
                if verdicts[i] is None:
                    step(i, pipeline.run_stage, name, stage, contexts[i])
        for i, raw in enumerate(raws):
            if verdicts[i] is None:
                # elapsed_ms: this message's own time, not the batch's
                verdict = step(i, pipeline.finish, raw, contexts[i],
                               time.perf_counter() - spent[i])
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



def _init_forked() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop


def _init_spawned(settings: Settings) -> None:
    global _PIPELINE, _SETTINGS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _SETTINGS = settings
    _PIPELINE = build_pipeline(settings)


def _crashed(raw: RawMessage, error: str) -> tuple[RawMessage, VerdictView]:
    return raw, VerdictView.of(error_verdict(raw, error))


def _scan_chunk(chunk: list[tuple[int, RawMessage]]) -> list[tuple[int, Encoded]]:
    assert _PIPELINE is not None and _SETTINGS is not None
    verdicts = scan_batch(_PIPELINE, [raw for _, raw in chunk], _SETTINGS.message_timeout)
    return [(key, encode(verdict)) for (key, _), verdict in zip(chunk, verdicts)]


# -- parent side ---------------------------------------------------------------
# Messages out in the pool at once: `window` chunks of up to `chunk` messages, and no
# more bytes than these (a chunk of 25 MiB messages must not hold the run's memory).
CHUNK_BYTES = 8 << 20
WINDOW_BYTES = 64 << 20


def next_chunk(source: Iterator[tuple[int, RawMessage]], count: int,
               size: int) -> list[tuple[int, RawMessage]]:
    """The next messages to send together: up to `count` of them, and fewer once they
    hold `size` bytes (always at least one, however large)."""
    chunk, total = [], 0
    for key, raw in source:
        chunk.append((key, raw))
        total += len(raw.data)
        if len(chunk) >= count or total >= size:
            break
    return chunk


class Workers:
    """`workers == 1`: in this process. More: a process pool."""

    def __init__(self, settings: Settings, workers: int | None = None, chunk: int = 16,
                 fork_lock: threading.Lock | None = None):
        self.settings = settings
        # Held by this process's other threads while they are inside SQLite or file
        # writes: a fork copies whatever locks are held at that instant into the child.
        self.fork_lock = fork_lock or threading.Lock()
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.chunk = chunk
        self._pipeline: Pipeline | None = None
        self._executor: ProcessPoolExecutor | None = None

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self.start()
        return self._pipeline

    def start(self) -> None:
        """Build the pipeline now, so a bad rule pack fails before any message is read."""
        self._pipeline = build_pipeline(self.settings)
        if self.workers > 1:
            self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        global _PIPELINE, _SETTINGS
        if "fork" in multiprocessing.get_all_start_methods():
            _PIPELINE, _SETTINGS = self._pipeline, self.settings  # what the forks inherit
            executor = ProcessPoolExecutor(self.workers, multiprocessing.get_context("fork"),
                                           initializer=_init_forked)
            with self.fork_lock:
                executor.submit(int)  # forks every worker now, while no other thread writes
            return executor
        return ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"),
                                   initializer=_init_spawned, initargs=(self.settings,))

    def scan(self, messages: Iterable[RawMessage]) -> Iterator[tuple[RawMessage, VerdictView]]:
        """Each message with its verdict (the JSON record behind a read-only view)."""
        if self._pipeline is None:
            self.start()
        if self.workers == 1:
            source = iter(enumerate(messages))
            while chunk := next_chunk(source, self.chunk, CHUNK_BYTES):
                raws = [raw for _, raw in chunk]
                for raw, verdict in zip(raws, scan_batch(self._pipeline, raws,
                                                         self.settings.message_timeout)):
                    yield raw, VerdictView.of(verdict)
            return
        yield from self._scan_pool(messages)

    def _scan_pool(self, messages: Iterable[RawMessage]
                   ) -> Iterator[tuple[RawMessage, VerdictView]]:
        # A dying worker breaks the whole pool and fails every future in flight, so
        # the culprit cannot be told from its neighbours. After a break, the messages
        # that were out are retried one at a time, alone in the pool: a message that
        # breaks it then is the one that kills its worker.
        pending: dict[Future, tuple[list[tuple[int, RawMessage]], bool]] = {}
        held: dict[int, RawMessage] = {}
        held_bytes = 0
        suspects: list[tuple[int, RawMessage]] = []
        source = iter(enumerate(messages))
        exhausted = False
        window = self.workers * 3

        def release(key: int) -> RawMessage | None:
            nonlocal held_bytes
            raw = held.pop(key, None)
            if raw is not None:
                held_bytes -= len(raw.data)
            return raw

        def submit(chunk: list[tuple[int, RawMessage]], alone: bool) -> None:
            pending[self._executor.submit(_scan_chunk, chunk)] = (chunk, alone)

        while True:
            if suspects:
                if not pending:
                    submit([suspects.pop(0)], alone=True)
            else:
                while not exhausted and len(pending) < window and (
                        not pending or held_bytes < WINDOW_BYTES):
                    chunk = next_chunk(source, self.chunk, CHUNK_BYTES)
                    for key, raw in chunk:
                        held[key] = raw
                        held_bytes += len(raw.data)
                    if not chunk:
                        exhausted = True
                        break
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
                        key, raw = chunk[0]
                        release(key)
                        yield _crashed(raw, f"worker crashed: {type(exc).__name__}")
                    else:
                        suspects.extend(chunk)
                    continue
                for key, encoded in results:
                    yield release(key), VerdictView(*encoded)
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
