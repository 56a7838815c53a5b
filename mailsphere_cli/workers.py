"""Where messages are analysed: in this process, or in a pool of worker processes.

The scan loop only sees `Workers.scan(messages) -> iterator of (message, verdict)`;
a Dask cluster can take the pool's place behind the same method. Each worker
builds its pipeline (compiled rules, resolver, YARA, model) once. A message that
raises, overruns its time budget or kills its worker becomes an `error` verdict;
the run goes on.
"""
from __future__ import annotations

import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from mailsphere_cli.config import Config
from mailsphere_cli.pipeline import Pipeline, error_verdict
from mailsphere_cli.sources import RawMessage
from mailsphere_cli.verdict import Verdict


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


class MessageTimeout(BaseException):
    """BaseException, so the `except Exception` guards of stages and checks let it through."""


def _alarm(signum, frame):  # noqa: ARG001
    raise MessageTimeout()


def scan_one(pipeline: Pipeline, raw: RawMessage, timeout: float) -> Verdict:
    started = time.perf_counter()
    use_alarm = timeout > 0 and hasattr(signal, "setitimer")
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return pipeline.run(raw)
    except MessageTimeout:
        return error_verdict(raw, f"timed out after {timeout:g} s",
                             (time.perf_counter() - started) * 1000)
    except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001
        return error_verdict(raw, f"{type(exc).__name__}: {exc}"[:500],
                             (time.perf_counter() - started) * 1000)
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


# -- worker process side -----------------------------------------------------
_PIPELINE: Pipeline | None = None
_SETTINGS: Settings | None = None


def _init_worker(settings: Settings) -> None:
    global _PIPELINE, _SETTINGS
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    _SETTINGS = settings
    _PIPELINE = build_pipeline(settings)


def _scan_chunk(chunk: list[tuple[int, RawMessage]]) -> list[tuple[int, Verdict]]:
    assert _PIPELINE is not None and _SETTINGS is not None
    return [(key, scan_one(_PIPELINE, raw, _SETTINGS.message_timeout)) for key, raw in chunk]


# -- parent side ---------------------------------------------------------------
class Workers:
    """`workers == 1`: in this process. More: a loky process pool."""

    def __init__(self, settings: Settings, workers: int | None = None, chunk: int = 16):
        self.settings = settings
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.chunk = chunk
        self._pipeline: Pipeline | None = None
        self._executor = None

    def start(self) -> None:
        """Build the pipeline(s) now, so a bad rule pack fails before any message is read."""
        if self.workers == 1:
            self._pipeline = build_pipeline(self.settings)
        else:
            build_pipeline(self.settings)  # validates in the parent; workers build their own
            self._executor = self._new_executor()

    def _new_executor(self):
        from joblib.externals.loky import get_reusable_executor
        return get_reusable_executor(max_workers=self.workers, initializer=_init_worker,
                                     initargs=(self.settings,), reuse=False)

    def scan(self, messages: Iterable[RawMessage]) -> Iterator[tuple[RawMessage, Verdict]]:
        if self.workers == 1:
            if self._pipeline is None:
                self._pipeline = build_pipeline(self.settings)
            for raw in messages:
                yield raw, scan_one(self._pipeline, raw, self.settings.message_timeout)
            return
        yield from self._scan_pool(messages)

    def _scan_pool(self, messages: Iterable[RawMessage]) -> Iterator[tuple[RawMessage, Verdict]]:
        if self._executor is None:
            self._executor = self._new_executor()
        pending: dict[Future, list[tuple[int, RawMessage]]] = {}
        held: dict[int, RawMessage] = {}
        retry: list[tuple[int, RawMessage]] = []
        source = iter(enumerate(messages))
        exhausted = False
        window = self.workers * 3

        def submit(chunk: list[tuple[int, RawMessage]]) -> None:
            pending[self._executor.submit(_scan_chunk, chunk)] = chunk

        while True:
            while not exhausted and len(pending) < window:
                if retry:
                    submit([retry.pop()])
                    continue
                chunk = []
                for key, raw in source:
                    held[key] = raw
                    chunk.append((key, raw))
                    if len(chunk) >= self.chunk:
                        break
                if not chunk:
                    exhausted = True
                    break
                submit(chunk)
            if exhausted and retry and len(pending) < window:
                submit([retry.pop()])
                continue
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = pending.pop(future)
                try:
                    results = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker died under this chunk
                    self._executor = self._new_executor()
                    if len(chunk) == 1:
                        key, raw = chunk[0]
                        held.pop(key, None)
                        yield raw, error_verdict(raw, f"worker crashed: {type(exc).__name__}")
                    else:
                        retry.extend(chunk)  # retried one by one to find the culprit
                    continue
                for key, verdict in results:
                    yield held.pop(key), verdict

    def close(self, kill: bool = False) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=not kill, kill_workers=kill)
            self._executor = None
