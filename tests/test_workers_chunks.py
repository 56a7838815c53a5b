"""How messages are handed to the pool: chunks bounded by count and by bytes."""
from __future__ import annotations

import hashlib

from mailsphere_cli import workers as workers_module
from mailsphere_cli.config import load_config
from mailsphere_cli.sources import Location, RawMessage
from mailsphere_cli.workers import Settings, Workers, next_chunk
from tests.conftest import ROOT, make_message

MINIPACK = str(ROOT / "tests" / "data" / "minipack")


def _raw(index: int, data: bytes) -> RawMessage:
    return RawMessage(hashlib.sha256(data).hexdigest(), f"m{index}.eml", data, len(data),
                      Location("eml", f"m{index}.eml"))


def test_a_chunk_stops_at_its_count_or_its_bytes_and_is_never_empty():
    sizes = [10, 10, 10, 500, 10, 60, 50, 10]
    source = iter([(i, _raw(i, b"x" * n)) for i, n in enumerate(sizes)])
    chunks = []
    while chunk := next_chunk(source, 3, 100):
        chunks.append([key for key, _ in chunk])
    # by count; one message alone past the size; by size (60 + 50); what is left
    assert chunks == [[0, 1, 2], [3], [4, 5, 6], [7]]


def test_the_pool_with_small_chunk_and_window_bounds_returns_every_message_once(
        tmp_path, monkeypatch):
    monkeypatch.setattr(workers_module, "CHUNK_BYTES", 600)
    monkeypatch.setattr(workers_module, "WINDOW_BYTES", 1500)
    messages = [_raw(i, make_message(f"Report {i}", "word " * (i * 20) + str(i)))
                for i in range(30)]
    pool = Workers(Settings(config=load_config(None), rules_dirs=(MINIPACK,), offline=True,
                            skip=("classifier",), data_dir=str(tmp_path)), workers=2)
    try:
        results = list(pool.scan(iter(messages)))
    finally:
        pool.close()
    assert sorted(raw.origin for raw, _ in results) == sorted(m.origin for m in messages)
    assert all(view.id == raw.id and view.action.value == "deliver" for raw, view in results)


def _collector_state() -> tuple[tuple[int, int, int], int]:
    import gc
    return gc.get_threshold(), gc.get_freeze_count()


def test_forked_workers_keep_the_pipeline_out_of_the_collector(tmp_path):
    """The pipeline built before the fork is frozen (no full collection walks it again, in
    a worker or here) and workers collect their young objects less often."""
    pool = Workers(Settings(config=load_config(None), rules_dirs=(MINIPACK,), offline=True,
                            skip=("classifier",), data_dir=str(tmp_path)), workers=2)
    try:
        pool.start()
        threshold, frozen = pool._executor.submit(_collector_state).result()
    finally:
        pool.close()
    assert threshold == workers_module._WORKER_GC_THRESHOLD
    assert frozen > 1000


def test_the_last_messages_go_out_in_smaller_chunks(tmp_path, monkeypatch):
    """Once the source's end is in sight, chunks shrink (tail_chunk), so the workers finish
    together; every message still comes back once."""
    pool = Workers(Settings(config=load_config(None), rules_dirs=(MINIPACK,), offline=True,
                            skip=("classifier",), data_dir=str(tmp_path)), workers=2)
    # more than the pool reads ahead (3 chunks a worker) plus a chunk: the first chunks
    # go out before the end is in sight
    total = 8 * pool.chunk + 22
    messages = [_raw(i, make_message(f"Note {i}", f"text {i}")) for i in range(total)]
    sizes: list[int] = []
    try:
        pool.start()
        submit = pool._executor.submit

        def counting(fn, chunk, *args):
            sizes.append(len(chunk))
            return submit(fn, chunk, *args)

        monkeypatch.setattr(pool._executor, "submit", counting)
        results = list(pool.scan(iter(messages)))
    finally:
        pool.close()
    assert sorted(raw.origin for raw, _ in results) == sorted(m.origin for m in messages)
    assert sum(sizes) == total
    assert sizes[0] == pool.chunk  # far from the end: whole chunks
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] <= workers_module.TAIL_CHUNK
    assert len(sizes) > total // pool.chunk + 2
    left = total
    for size in sizes:  # each as tail_chunk gives it once the end was seen
        assert size == min(left, workers_module.tail_chunk(left, pool.chunk, 2)) \
            or left > 6 * pool.chunk
        left -= size


def test_a_worker_analyses_a_chunk_in_batches(tmp_path, monkeypatch):
    """A chunk sent to a worker (two batches' worth) is analysed BATCH messages at a time,
    stage by stage, as the tuning of the stages assumes."""
    batches: list[int] = []
    real = workers_module.scan_batch

    def counting(pipeline, raws, timeout):
        batches.append(len(raws))
        return real(pipeline, raws, timeout)

    monkeypatch.setattr(workers_module, "scan_batch", counting)
    settings = Settings(config=load_config(None), rules_dirs=(MINIPACK,), offline=True,
                        skip=("classifier",), data_dir=str(tmp_path))
    monkeypatch.setattr(workers_module, "_PIPELINE", workers_module.build_pipeline(settings))
    monkeypatch.setattr(workers_module, "_SETTINGS", settings)
    chunk = [(i, _raw(i, make_message(f"Note {i}", f"text {i}"))) for i in range(workers_module.CHUNK + 3)]
    results = workers_module._scan_chunk(chunk)
    assert [key for key, _ in results] == list(range(len(chunk)))
    assert batches == [workers_module.BATCH, workers_module.BATCH, 3]
