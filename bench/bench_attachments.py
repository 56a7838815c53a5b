"""Attachment-heavy mail: how long the attachments stage takes, and how much memory.

    python bench/bench_attachments.py

Cases (targets from the issue: 10 MB attachment < 1 s; 42.zip-style bomb
stopped within limits < 2 s and < 200 MiB):
  - a message with a 10 MB attachment (random bytes: nothing to shortcut),
  - a 10 MB zip of many documents,
  - a 42.zip-style bomb (16 identical members per level, 5 levels),
  - the same bomb with every member distinct, so no work is shared,
  - a gzip bomb (512 MiB of zeros in ~500 KB).
Parse (the message module) and the attachments stage are timed apart,
without tracemalloc; peak memory is measured
in a second run under tracemalloc (Python allocations) and as the process's
max RSS growth.
"""
from __future__ import annotations

import gzip
import io
import os
import resource
import sys
import time
import tracemalloc
import zipfile
import zlib
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailsphere_cli.attachments import default_services, stage  # noqa: E402
from mailsphere_cli.context import Context  # noqa: E402
from mailsphere_cli.message import ParsedMessage  # noqa: E402

MiB = 1024 * 1024


def message(attachments: list[tuple[str, bytes, str]]) -> bytes:
    mail = EmailMessage()
    mail["From"] = "a@outside.example"
    mail["To"] = "user@example.org"
    mail["Subject"] = "bench"
    mail.set_content("See attached. Password: bench123")
    for name, data, mime in attachments:
        maintype, subtype = mime.split("/", 1)
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return mail.as_bytes()


def zipped(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def bomb_42(distinct: bool) -> bytes:
    layer = zipped([(f"{i}.bin", b"\x00" * (4 * MiB)) for i in range(16)])
    for level in range(4):
        members = []
        for i in range(16):
            # A distinct comment byte makes every copy a different object.
            payload = layer + (f"{level}-{i}".encode() if distinct else b"")
            members.append((f"L{level}-{i}.zip", payload))
        layer = zipped(members)
    return layer


def gzip_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\x00" * MiB
    return b"".join(compressor.compress(block) for _ in range(size // MiB)) + compressor.flush()


def run_stage(raw: bytes, timings: dict[str, float] | None = None) -> Context:
    began = time.perf_counter()
    msg = ParsedMessage(raw)
    msg.parts  # the parse is the lead's; timed apart from the stage
    parsed = time.perf_counter()
    ctx = Context(msg=msg, config=None, services=dict(default_services()))
    stage.run(msg, ctx)
    if timings is not None:
        timings["parse"] = parsed - began
        timings["stage"] = time.perf_counter() - parsed
    return ctx


def measure(label: str, raw: bytes) -> None:
    run_stage(raw)  # warm caches (YARA compiled once per worker, imports)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    timings: dict[str, float] = {}
    ctx = run_stage(raw, timings)
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    tracemalloc.start()
    run_stage(raw)
    peak = tracemalloc.get_traced_memory()[1] / MiB
    tracemalloc.stop()
    findings = sorted({f.split(":")[0] for r in ctx.attachments for f in r["findings"]})
    print(f"{label:<34} {len(raw) / MiB:7.2f} MiB  parse {timings['parse']:6.3f} s  "
          f"stage {timings['stage']:6.3f} s  peak {peak:7.1f} MiB "
          f"(rss +{rss_growth:6.1f} MiB)  objects {len(ctx.attachments):5d}  "
          f"action {'malicious' if ctx.forced else 'scored'}  {', '.join(findings)[:120]}")


def main() -> None:
    default_services()
    print(f"{'case':<34} {'message':>11}  {'parse':>14}  {'attachments stage':>14}  "
          f"{'memory (parse + stage)':>13}")
    measure("10 MB random attachment", message([("data.bin", os.urandom(10 * MiB),
                                                 "application/octet-stream")]))
    documents = [(f"doc{i}.pdf", b"%PDF-1.4\n" + os.urandom(200 * 1024)) for i in range(50)]
    measure("10 MB zip of 50 PDFs", message([("docs.zip", zipped(documents), "application/zip")]))
    measure("42.zip-style bomb (shared copies)", message([("42.zip", bomb_42(False), "application/zip")]))
    measure("42.zip-style bomb (all distinct)", message([("42.zip", bomb_42(True), "application/zip")]))
    measure("gzip bomb 512 MiB", message([("x.gz", gzip_bomb(512 * MiB), "application/gzip")]))
    measure("gzip of 10 MB text", message([("log.txt.gz", gzip.compress(os.urandom(5 * MiB).hex()
                                                                         .encode()[: 10 * MiB]),
                                            "application/gzip")]))


if __name__ == "__main__":
    main()
