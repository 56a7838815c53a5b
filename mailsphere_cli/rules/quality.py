"""Rule QA: run the pipeline over labelled folders and measure every rule.

For each rule: how many spam and ham messages it hit (as percentages), its
S/O ratio (the share of its hits that were spam, after normalising both sides
to the same size, so 1.0 means it only ever hit spam) and its score. Overall:
the share of each spam folder caught at the threshold (recall) and the share
of each ham folder flagged (false positives). `mailsphere rules test` prints it.

A message counts as flagged when its verdict is anything but deliver (spam,
reject or malicious); errors are counted apart and never as caught.
"""
from __future__ import annotations

import csv
import gc
import io
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from mailsphere_cli.sources import RawMessage, iter_sources
from mailsphere_cli.verdict import Action
from mailsphere_cli.workers import _WORKER_GC_THRESHOLD, BATCH, Settings, build_pipeline, scan_batch

HAM, SPAM = "ham", "spam"
CHUNK = 64


@dataclass
class FolderResult:
    label: str
    path: str
    total: int = 0
    flagged: int = 0
    errors: int = 0

    @property
    def rate(self) -> float:
        return 100.0 * self.flagged / self.total if self.total else 0.0


@dataclass(frozen=True)
class RuleStat:
    id: str
    group: str
    score: float
    spam_hits: int
    ham_hits: int
    spam_pct: float
    ham_pct: float
    s_o: float


@dataclass
class QualityReport:
    folders: list[FolderResult]
    rules: list[RuleStat]
    rule_ms: float = 0.0
    misses: dict[str, list[str]] = field(default_factory=dict)

    def _pick(self, label: str) -> tuple[int, int]:
        chosen = [f for f in self.folders if f.label == label]
        return sum(f.flagged for f in chosen), sum(f.total for f in chosen)

    @property
    def recall(self) -> float:
        caught, total = self._pick(SPAM)
        return 100.0 * caught / total if total else 0.0

    @property
    def false_positive_rate(self) -> float:
        flagged, total = self._pick(HAM)
        return 100.0 * flagged / total if total else 0.0

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["rule", "group", "score", "spam_pct", "ham_pct", "s_o",
                         "spam_hits", "ham_hits"])
        for r in self.rules:
            writer.writerow([r.id, r.group, f"{r.score:g}", f"{r.spam_pct:.2f}",
                             f"{r.ham_pct:.2f}", f"{r.s_o:.3f}", r.spam_hits, r.ham_hits])
        return out.getvalue()


# -- running ------------------------------------------------------------------

_PIPELINE = None
_TIMEOUT = 0.0


def _init(settings: Settings) -> None:
    global _PIPELINE, _TIMEOUT
    _PIPELINE = build_pipeline(settings)
    _TIMEOUT = settings.message_timeout


def _init_worker(settings: Settings) -> None:
    """A pool process set up as a scan's worker is: its pipeline, then the collector
    with that pipeline frozen out of its care and the worker's thresholds (so the
    rule stage's time it reports is the time it takes in a scan)."""
    _init(settings)
    gc.freeze()
    gc.set_threshold(*_WORKER_GC_THRESHOLD)


@dataclass(frozen=True)
class _Outcome:
    folder: int
    origin: str
    flagged: bool
    error: bool
    hits: tuple[str, ...]
    rule_ms: float


def _flagged(action: Action) -> bool:
    return action in (Action.SPAM, Action.REJECT, Action.MALICIOUS)


def _scan_chunk(chunk: list[tuple[int, RawMessage]]) -> list[_Outcome]:
    """The outcomes of a chunk, analysed in batches of BATCH messages stage by stage
    with each message's time budget, exactly as a scan's worker analyses them
    (workers.scan_batch: one message that fails or runs out of time is an error)."""
    out = []
    for start in range(0, len(chunk), BATCH):
        part = chunk[start:start + BATCH]
        try:
            verdicts = scan_batch(_PIPELINE, [raw for _, raw in part], _TIMEOUT)
        except Exception:  # noqa: BLE001 - a broken batch is errors, the run goes on
            out.extend(_Outcome(folder, raw.origin, False, True, (), 0.0) for folder, raw in part)
            continue
        for (folder, raw), verdict in zip(part, verdicts):
            fired = tuple(h.rule for h in verdict.hits)
            out.append(_Outcome(folder, raw.origin, _flagged(verdict.action),
                                verdict.action is Action.ERROR, fired,
                                verdict.timings_ms.get("rules", 0.0)))
    return out


def _messages(folders: list[FolderResult]) -> Iterator[tuple[int, RawMessage]]:
    for index, folder in enumerate(folders):
        for item in iter_sources([folder.path]):
            if isinstance(item, RawMessage):
                yield index, item


def _chunks(items: Iterable[tuple[int, RawMessage]]) -> Iterator[list[tuple[int, RawMessage]]]:
    chunk: list[tuple[int, RawMessage]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def evaluate(ham: list[str], spam: list[str], settings: Settings,
             jobs: int | None = None, keep_misses: int = 0) -> QualityReport:
    """Scan every folder; `jobs` processes (default: the CPU count, 1 = in-process)."""
    folders = [FolderResult(HAM, str(p)) for p in ham] + [FolderResult(SPAM, str(p)) for p in spam]
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1:
        _init(settings)
        results: Iterable[list[_Outcome]] = map(_scan_chunk, _chunks(_messages(folders)))
        return _summarise(folders, results, settings, keep_misses)
    with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(settings,)) as pool:
        results = pool.map(_scan_chunk, _chunks(_messages(folders)))
        return _summarise(folders, results, settings, keep_misses)


def _summarise(folders: list[FolderResult], results: Iterable[list[_Outcome]],
               settings: Settings, keep_misses: int) -> QualityReport:
    from mailsphere_cli.rules.loader import load_rules
    pack = load_rules(list(settings.rules_dirs) or None)
    counts: dict[str, list[int]] = {rule_id: [0, 0] for rule_id in pack.rules}
    rule_ms, timed = 0.0, 0
    misses: dict[str, list[str]] = {}
    for chunk in results:
        for outcome in chunk:
            folder = folders[outcome.folder]
            folder.total += 1
            folder.errors += outcome.error
            folder.flagged += outcome.flagged
            rule_ms += outcome.rule_ms
            timed += 1
            side = 0 if folder.label == SPAM else 1
            for rule_id in set(outcome.hits):
                counts.setdefault(rule_id, [0, 0])[side] += 1
            wrong = outcome.flagged != (folder.label == SPAM)
            if keep_misses and wrong:
                found = misses.setdefault(folder.path, [])
                if len(found) < keep_misses:
                    found.append(outcome.origin)
    spam_total = sum(f.total for f in folders if f.label == SPAM)
    ham_total = sum(f.total for f in folders if f.label == HAM)
    stats = []
    for rule_id, (spam_hits, ham_hits) in counts.items():
        rule = pack.rules.get(rule_id)
        spam_pct = 100.0 * spam_hits / spam_total if spam_total else 0.0
        ham_pct = 100.0 * ham_hits / ham_total if ham_total else 0.0
        s_o = spam_pct / (spam_pct + ham_pct) if spam_pct + ham_pct else 0.0
        stats.append(RuleStat(rule_id, rule.group if rule else "other",
                              rule.score if rule else 0.0, spam_hits, ham_hits,
                              spam_pct, ham_pct, s_o))
    stats.sort(key=lambda s: (-(s.spam_hits + s.ham_hits), s.id))
    return QualityReport(folders, stats, rule_ms / timed if timed else 0.0, misses)


def check_folder(path: str) -> Path:
    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    return folder
