"""Every archive limit has its own hit, and the bound holds in time and memory."""
from __future__ import annotations

import gzip
import io
import os
import time
import tracemalloc
import zlib
from dataclasses import replace

from mailsphere_cli.attachments import default_services
from mailsphere_cli.attachments.archives import Budget, Expansion
from mailsphere_cli.attachments.policy import Limits
from tests.test_attachments_builders import eml, scan, zip_of

MiB = 1024 * 1024


def services_with(**limits):
    services = dict(default_services())
    policy = services["attachment_policy"]
    services["attachment_policy"] = replace(policy, limits=replace(policy.limits, **limits))
    return services


def measured(fn):
    """Run fn twice: once timed (tracemalloc slows allocation-heavy code several
    times over), once under tracemalloc for the peak. Returns result, seconds, MiB."""
    began = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - began
    tracemalloc.start()
    try:
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] / MiB
    finally:
        tracemalloc.stop()
    return result, elapsed, peak


def zeros_gzip(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    block = b"\x00" * MiB
    return b"".join(compressor.compress(block) for _ in range(size // MiB)) + compressor.flush()


def test_ratio_limit_stops_a_streamed_bomb_early():
    bomb = zeros_gzip(128 * MiB)  # about 130 KB that would expand to 128 MiB
    ctx, elapsed, peak = measured(lambda: scan(eml([("data.bin.gz", bomb, "application/gzip")])))
    record = next(r for r in ctx.attachments if r["path"] == "data.bin.gz")
    assert [f.split(":")[0] for f in record["findings"]] == ["ATTACH_ARCHIVE_BOMB_RATIO"]
    member = next(r for r in ctx.attachments if r["path"] == "data.bin.gz/data.bin")
    assert member["truncated"] is True
    assert member["size"] <= len(bomb) * 100 + 256 * 1024  # stopped at the 100:1 cap, one chunk over at most
    assert elapsed < 2.0 and peak < 150, (elapsed, peak)


def test_declared_ratio_bomb_is_read_no_further_than_a_prefix():
    data = zip_of([("zeros.bin", b"\x00" * (64 * MiB))])
    expansion = Expansion("zip", data, Budget(Limits()))
    members, elapsed, peak = measured(lambda: list(Expansion("zip", data, Budget(Limits()))))
    list(expansion)
    assert [m.truncated for m in members] == [True] and len(members[0].data) <= 64 * 1024
    assert [f[0] for f in expansion.findings] == ["ATTACH_ARCHIVE_BOMB_RATIO"]
    assert elapsed < 0.5 and peak < 5, (elapsed, peak)


def test_member_count_limit():
    archive = zip_of([(f"f{i}.txt", b"x") for i in range(1200)])
    ctx, elapsed, _ = measured(lambda: scan(eml([("many.zip", archive, "application/zip")])))
    members = [r for r in ctx.attachments if r["path"].startswith("many.zip/")]
    assert len(members) == 1000
    top = ctx.attachments[0]
    assert [f.split(":")[0] for f in top["findings"]] == ["ATTACH_ARCHIVE_TOO_MANY_MEMBERS"]
    assert elapsed < 3.0


def test_huge_central_directory_is_not_parsed():
    archive = zip_of([(f"{i}", b"") for i in range(10_050)])
    expansion = Expansion("zip", archive, Budget(Limits(max_members=1000)))
    members, elapsed, peak = measured(lambda: list(Expansion("zip", archive, Budget(Limits()))))
    list(expansion)
    assert members == [] and expansion.findings[0][0] == "ATTACH_ARCHIVE_TOO_MANY_MEMBERS"
    assert elapsed < 0.2 and peak < 2


def test_expanded_total_limit_counts_across_the_message():
    noise = [os.urandom(MiB // 2) for _ in range(6)]  # incompressible: no ratio hit, only the total
    archive = zip_of([(f"part{i}.bin", block) for i, block in enumerate(noise)])
    services = services_with(max_expanded=3 * MiB // 2)
    ctx, elapsed, peak = measured(lambda: scan(eml([("big.zip", archive, "application/zip")]),
                                              services))
    members = [r for r in ctx.attachments if r["path"].startswith("big.zip/")]
    assert sum(r["size"] for r in members) <= 3 * MiB // 2
    assert len(members) == 4  # three whole members and the start of the fourth
    assert "ATTACH_ARCHIVE_TOO_LARGE" in [f.split(":")[0] for f in ctx.attachments[0]["findings"]]
    # The peak includes parsing the 4 MB message itself.
    assert elapsed < 2.0 and peak < 60, (elapsed, peak)


def test_depth_limit():
    data = zip_of([("core.txt", b"hello")])
    for level in range(7):
        data = zip_of([(f"level{level}.zip", data)])
    ctx = scan(eml([("deep.zip", data, "application/zip")]))
    too_deep = [r for r in ctx.attachments
                if any(f.startswith("ATTACH_ARCHIVE_TOO_DEEP") for f in r["findings"])]
    assert len(too_deep) == 1 and too_deep[0]["path"].count("/") == 5
    assert max(r["path"].count("/") for r in ctx.attachments) == 5


def test_42_zip_style_bomb_is_stopped_within_limits():
    layer = zip_of([(f"{i}.bin", b"\x00" * (4 * MiB)) for i in range(16)])
    for level in range(4):
        layer = zip_of([(f"L{level}-{i}.zip", layer) for i in range(16)])
    assert len(layer) < 2 * MiB  # the whole bomb is small; expanded it is 16^5 * 4 MiB
    ctx, elapsed, peak = measured(lambda: scan(eml([("42.zip", layer, "application/zip")])))
    assert len(ctx.attachments) <= 1001
    found = {f.split(":")[0] for r in ctx.attachments for f in r["findings"]}
    assert "ATTACH_ARCHIVE_BOMB_RATIO" in found
    # Identical members are analysed once; the copies point at the first.
    copy = next(r for r in ctx.attachments if r["path"] == "42.zip/L3-1.zip")
    assert copy["same_as"] == "42.zip/L3-0.zip"
    assert elapsed < 2.0 and peak < 200, (elapsed, peak)


def test_message_time_budget_stops_analysis_with_a_hit():
    archive = zip_of([(f"f{i}.txt", b"x") for i in range(50)])
    ctx = scan(eml([("a.zip", archive, "application/zip")]), services_with(message_budget=0.0))
    assert "ATTACH_SCAN_BUDGET" in {h.rule for h in ctx.hits}
    assert len(ctx.attachments) == 1  # the top object is recorded, nothing more is opened


def test_bz2_and_xz_and_tar_members_are_reached():
    import bz2
    import lzma
    import tarfile

    def tar_with(name: str) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            payload = b'var s = new ActiveXObject("WScript.Shell"); s.Run("calc");'
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
        return buffer.getvalue()

    # Different member names, so no archive is a byte-for-byte copy of another.
    ctx = scan(eml([("a.tar.bz2", bz2.compress(tar_with("a.js")), "application/x-bzip2"),
                    ("b.tar.xz", lzma.compress(tar_with("b.js")), "application/x-xz"),
                    ("c.tgz", gzip.compress(tar_with("c.js")), "application/gzip")]))
    paths = {r["path"] for r in ctx.attachments}
    assert {"a.tar.bz2/a.tar/a.js", "b.tar.xz/b.tar/b.js", "c.tgz/c.tar/c.js"} <= paths
    assert [r["true_type"] for r in ctx.attachments if r["path"].endswith(".js")] == ["js"] * 3
