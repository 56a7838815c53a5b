"""Every source kind, framed and identified correctly; problems counted, never fatal."""
from __future__ import annotations

import hashlib
import io
import os
import tracemalloc
from pathlib import Path

import pytest

from mailsphere_cli.sources import (RawMessage, SourceError, SourceProblem, iter_mbox,
                                    iter_sources)
from tests.conftest import make_message


def messages(items):
    return [i for i in items if isinstance(i, RawMessage)]


def problems(items):
    return [i for i in items if isinstance(i, SourceProblem)]


def test_maildir_reads_cur_new_and_maildirplusplus_subfolders(tmp_path: Path):
    root = tmp_path / "Maildir"
    for folder in (root, root / ".Lists"):
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True)
    (root / "new" / "1.M1.host").write_bytes(make_message("new one"))
    (root / "cur" / "2.M2.host:2,S").write_bytes(make_message("seen one"))
    (root / "tmp" / "3.M3.host").write_bytes(make_message("being delivered"))
    (root / "cur" / ".hidden").write_bytes(make_message("dotfile"))
    (root / ".Lists" / "cur" / "4.M4.host:2,").write_bytes(make_message("list post"))
    found = messages(iter_sources([str(root)]))
    subjects = sorted(m.data.split(b"Subject: ")[1].split(b"\n")[0].decode() for m in found)
    assert subjects == ["list post", "new one", "seen one"]
    assert all(m.location.kind == "maildir" for m in found)
    assert any(".Lists" in m.origin for m in found)


def test_mboxrd_framing_unquoting_and_identity(tmp_path: Path):
    path = tmp_path / "archive.mbox"
    first = b"Subject: one\n\nhello\nFrom the start of a line\n>From quoted once\n"
    path.write_bytes(b"From a@example.net Tue Mar  3 10:00:00 2026\n" + first.replace(
        b"\nFrom the", b"\n>From the").replace(b">From quoted", b">>From quoted")
        + b"\nFrom b@example.net Tue Mar  3 10:05:00 2026\nSubject: two\n\nbye")
    found = messages(iter_sources([str(path)]))
    assert [m.origin for m in found] == [f"{path}#0", f"{path}#1"]
    assert found[0].data == first
    assert found[0].id == hashlib.sha256(first).hexdigest()
    assert found[1].data == b"Subject: two\n\nbye"  # no trailing newline at end of file
    # offsets point at the From_ lines, so --move can find the entry again
    raw = path.read_bytes()
    assert raw[found[1].location.offset:].startswith(b"From b@example.net")


def test_mbox_with_trailing_newline_and_crlf(tmp_path: Path):
    path = tmp_path / "crlf.mbox"
    path.write_bytes(b"From x Tue Mar  3 10:00:00 2026\r\nSubject: a\r\n\r\nbody\r\n\r\n"
                     b"From y Tue Mar  3 10:00:00 2026\r\nSubject: b\r\n\r\nbody2\r\n")
    found = messages(iter_sources([str(path)]))
    assert [m.data for m in found] == [b"Subject: a\r\n\r\nbody\r\n", b"Subject: b\r\n\r\nbody2\r\n"]


def test_from_line_in_body_without_blank_line_is_not_a_separator(tmp_path: Path):
    path = tmp_path / "mbox"
    path.write_bytes(b"From x Tue Mar  3 10:00:00 2026\nSubject: a\n\nline\nFrom here on\n")
    found = messages(iter_sources([str(path)]))
    assert len(found) == 1 and b"From here on" in found[0].data


def test_single_message_file_with_from_line_is_reported_as_the_file(tmp_path: Path):
    path = tmp_path / "00001.abc"
    path.write_bytes(b"From someone@example.net Thu Aug 22 12:36:23 2002\n" + make_message())
    found = messages(iter_sources([str(path)]))
    assert len(found) == 1 and found[0].origin == str(path)


def test_folder_recursion_skips_non_mail_and_records_unreadable(tmp_path: Path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one.eml").write_bytes(make_message("one"))
    (tmp_path / "a" / "b" / "two.eml").write_bytes(make_message("two"))
    (tmp_path / "a" / "notes.txt").write_text("shopping list\nmilk\n")
    (tmp_path / "a" / "empty.eml").write_bytes(b"")
    (tmp_path / "a" / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    os.symlink(tmp_path / "gone.eml", tmp_path / "a" / "dangling.eml")
    items = list(iter_sources([str(tmp_path / "a")]))
    assert len(messages(items)) == 2
    reasons = {Path(p.origin).name: (p.kind, p.reason) for p in problems(items)}
    assert reasons["notes.txt"] == ("skipped", "does not start with a mail header")
    assert reasons["empty.eml"] == ("skipped", "empty file")
    assert reasons["image.png"][0] == "skipped"
    assert reasons["dangling.eml"] == ("error", "vanished before it could be read")


def test_stdin_message(tmp_path: Path):
    data = make_message("from a pipe")
    found = messages(iter_sources(["-"], stdin=io.BytesIO(data)))
    assert found[0].origin == "-" and found[0].id == hashlib.sha256(data).hexdigest()


def test_missing_path_and_bad_format_are_clear_errors(tmp_path: Path):
    with pytest.raises(SourceError, match="no such file"):
        list(iter_sources([str(tmp_path / "nope")]))
    with pytest.raises(SourceError, match="unknown format"):
        list(iter_sources([str(tmp_path)], fmt="pst"))
    with pytest.raises(SourceError, match="not a Maildir"):
        list(iter_sources([str(tmp_path)], fmt="maildir"))


def test_large_mbox_streams_in_flat_memory(tmp_path: Path):
    """A big mbox is framed line by line; a huge message keeps only its head."""
    path = tmp_path / "big.mbox"
    body = b"x" * 70 + b"\n"
    with open(path, "wb") as out:
        for i in range(3000):
            out.write(b"From a Tue Mar  3 10:00:00 2026\nSubject: %d\n\n" % i + body * 20 + b"\n")
        out.write(b"From a Tue Mar  3 10:00:00 2026\nSubject: huge\n\n" + body * 120_000)
    assert path.stat().st_size > 12_000_000
    tracemalloc.start()
    count = 0
    last = None
    for item in iter_mbox(path, limit=1_000_000):
        count += 1
        last = item
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 3001
    assert last.truncated and len(last.data) == 1_000_000 and last.size > 8_000_000
    assert peak < 4_000_000, f"peak {peak} bytes"


@pytest.mark.parametrize("body", [
    b"Subject: a\n\nline\n>From quoted\n>>From twice\n",
    b"Subject: a\n\nno newline at the end",
    b"Subject: a\r\n\r\nbody\r\n\r\n",
    b"Subject: a\n\nbody\n\n",
])
def test_single_message_fast_path_frames_like_the_line_reader(tmp_path: Path, body: bytes,
                                                              monkeypatch):
    from mailsphere_cli import sources
    path = tmp_path / "one"
    path.write_bytes(b"From x Tue Mar  3 10:00:00 2026\n" + body)
    fast = [(m.id, m.data, m.origin) for m in messages(iter_sources([str(path)]))]
    monkeypatch.setattr(sources, "_single_message_mbox", lambda *args: None)
    slow = [(m.id, m.data, m.origin) for m in messages(iter_sources([str(path)]))]
    assert fast == slow and len(fast) == 1


def test_folder_files_read_in_one_go_give_what_the_general_readers_give(tmp_path: Path,
                                                                        monkeypatch):
    """Files of a folder are opened once and, when small, read whole; every kind of file
    must come out exactly as the general readers (read_file, the line-by-line mbox
    reader) give it: identity, origin, bytes, location, or the same problem."""
    from mailsphere_cli import sources
    one = make_message("one", "body one")
    two = make_message("two", "body two")
    files = {
        "plain.eml": one,
        "no_suffix": two,
        "single_from": b"From x Tue Mar  3 10:00:00 2026\n" + one,
        "box.mbox": b"From x Tue Mar  3 10:00:00 2026\n" + one,
        "two_messages": b"From a Tue Mar  3 10:00:00 2026\n" + one + b"\n"
                        b"From b Tue Mar  3 10:00:00 2026\n" + two,
        "odd_start": b"From x Tue Mar  3 10:00:00 2026\n\n" + one,
        "crlf_mbox.mbs": b"From x Tue Mar  3 10:00:00 2026\r\n" + one.replace(b"\n", b"\r\n"),
        "empty": b"",
        "binary.bin": b"\x00\x01\x02 not mail",
        "notes.txt": b"just some words, no header\n",
        "empty.mbox": b"",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    def shape(items):
        return sorted((type(i).__name__, i.origin, getattr(i, "id", None),
                       getattr(i, "data", None), getattr(i, "location", None),
                       getattr(i, "reason", None)) for i in items)

    fast = shape(iter_sources([str(tmp_path)]))
    alone = shape(item for name in files for item in iter_sources([str(tmp_path / name)]))

    def general(path: Path, limit: int):
        with open(path, "rb") as stream:
            mbox = path.suffix.lower() in sources.MBOX_SUFFIXES or stream.read(5) == b"From "
        if mbox:
            yield from sources.iter_mbox(path, limit)
        else:
            yield sources.read_file(path, "eml", limit)

    monkeypatch.setattr(sources, "iter_file", general)
    monkeypatch.setattr(sources, "_single_message_mbox", lambda *args: None)
    slow = shape(iter_sources([str(tmp_path)]))
    assert fast == slow == alone
    assert len(messages(iter_sources([str(tmp_path)]))) == 8


def test_paths_read_without_pathlib_are_named_as_pathlib_names_them():
    """A FileRef's path is read as a string: its origin is still str(Path(path)), its
    suffix PurePath's, so a verdict's source and the mbox tests are unchanged."""
    import random

    from mailsphere_cli.sources import _named_mbox, _normal_path, _suffix
    rng = random.Random(7)
    pieces = ["", ".", "..", "/", "//", "a", "b.eml", ".mbox", "x.MBOX", "inbox", "In.box.",
              "mbox", "c.mbx", "d.", "e..mbs", " ", "é.mbox"]
    checked = 0
    for _ in range(20_000):
        path = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 7)))
        if not path:
            continue
        assert _normal_path(path) == str(Path(path)), path
        name = Path(path).name
        assert _suffix(name) == Path(path).suffix, path
        assert _named_mbox(_normal_path(path)) == _named_mbox(Path(path)), path
        checked += 1
    assert checked > 15_000


def test_a_folder_file_read_by_its_descriptor_gives_what_the_stream_readers_give(tmp_path: Path):
    from mailsphere_cli.sources import FileRef, read_file, read_ref
    message = make_message("Minutes", "Notes of the meeting.")
    (tmp_path / "a.eml").write_bytes(message)
    (tmp_path / "empty.eml").write_bytes(b"")
    (tmp_path / "folder.eml").mkdir()
    (tmp_path / "big.eml").write_bytes(message * 40)
    (tmp_path / "one.mbox").write_bytes(b"From alice@example.net Tue Mar  3 10:00:00 2026\n" + message)
    limit = len(message) * 10

    def read(name: str):
        return read_ref(FileRef(str(tmp_path / name), "file"), limit)

    whole = read("a.eml")
    assert isinstance(whole, RawMessage) and whole.data == message and not whole.truncated
    assert whole.id == hashlib.sha256(message).hexdigest()
    assert read("empty.eml") == SourceProblem(str(tmp_path / "empty.eml"), "skipped", "empty file")
    assert read("folder.eml") == SourceProblem(str(tmp_path / "folder.eml"), "skipped",
                                               "is a directory")
    assert read("gone.eml") == SourceProblem(str(tmp_path / "gone.eml"), "error",
                                             "vanished before it could be read")
    big = read("big.eml")  # over the limit: the bounded reader, as before
    assert big == read_file(tmp_path / "big.eml", "eml", limit) and big.truncated
    framed = read("one.mbox")
    assert framed.data == message and framed.origin == f"{tmp_path / 'one.mbox'}#0"


def test_source_records_pickle_to_equal_records():
    import pickle

    from mailsphere_cli.sources import FileRef, Location, RawMessage
    for record in (FileRef("/mail/cur/1:2,S", "maildir"),
                   Location("mbox", "/mail/box", offset=120, length=4096),
                   RawMessage("ab" * 32, "/mail/box#2", b"From: a\n\nbody", 13,
                              Location("mbox", "/mail/box", 120, 13), truncated=True)):
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
            back = pickle.loads(pickle.dumps(record, protocol=protocol))
            assert back == record and type(back) is type(record)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_named_pipe_or_device_in_a_spool_is_skipped_not_waited_on(tmp_path: Path,
                                                                      workers: str):
    """Opening a FIFO for reading waits for a writer: one planted in a folder or a Maildir
    hung the whole scan. Pipes and devices are skipped, named, and the mail around them
    is analysed."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    box = tmp_path / "box"
    (box / "Maildir" / "new").mkdir(parents=True)
    (box / "Maildir" / "cur").mkdir()
    (box / "one.eml").write_bytes(make_message("one"))
    (box / "Maildir" / "new" / "1.host").write_bytes(make_message("two"))
    os.mkfifo(box / "pipe.eml")
    os.mkfifo(box / "Maildir" / "new" / "2.host")
    os.symlink("/dev/zero", box / "zero.eml")
    done = subprocess.run(
        [sys.executable, "-m", "mailsphere_cli", "scan", str(box), "--offline", "--json",
         "-j", workers, "--data-dir", str(tmp_path / "data")],
        capture_output=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    subjects = sorted(json.loads(line)["subject"] for line in done.stdout.splitlines())
    assert subjects == ["one", "two"]
    err = done.stderr.decode()
    for name in ("pipe.eml", "2.host", "zero.eml"):
        assert f"{name}: not a regular file (a pipe, socket or device)" in err, name
