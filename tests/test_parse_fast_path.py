"""message.parse_bytes must build the same tree as the standard compat32 parse."""
from __future__ import annotations

import email.feedparser
import re
from email import policy
from email.message import Message
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailsphere_cli.message import (_BoundaryMatch, _content_facts, _content_type_facts,
                                    _FeedParserRe, parse_bytes)
from mailsphere_cli.sources import RawMessage, iter_sources

_PARSER = BytesParser(policy=policy.compat32)


class _Standard:
    """The standard library's parse, with the feed parser's own `re` (no stand-in)."""

    @staticmethod
    def parsebytes(raw: bytes) -> Message:
        stand_in, email.feedparser.re = email.feedparser.re, re
        try:
            return _PARSER.parsebytes(raw)
        finally:
            email.feedparser.re = stand_in


_STANDARD = _Standard()


def _shape(node: Message) -> tuple:
    """Everything the parse decides about a node, its children included."""
    payload = node._payload
    children = tuple(_shape(child) for child in payload) if isinstance(payload, list) else payload
    return (node.get_unixfrom(), tuple(node._headers), node.get_default_type(),
            node.preamble, node.epilogue, tuple(type(d).__name__ for d in node.defects),
            children)


CASES = [
    b"From: a@example.com\nSubject: hi\n\nbody line\nsecond\n",
    b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\nmore\r\n",
    b"From: a@example.com\r\nSubject: hi\r\n\nbody after a mixed separator\n",
    b"From: a@example.com\nSubject: hi\n\r\nbody after a CRLF blank line\n\n",
    b"From: a@example.com\rSubject: old mac\r\rbody\r",
    b"From: a@example.com\nthis is not a header\nSubject: x\n\nbody\n",
    b"From: a@example.com\nSubject: no body at all\n",
    b"From: a@example.com\nSubject: empty body\n\n",
    b" continued: first line\nFrom: a@example.com\n\nbody\n",
    b"From someone Tue Mar  5 10:00:00 2024\nFrom: a@example.com\n\nbody\n",
    b"Subject: caf\xc3\xa9 \xff\nFrom: a@example.com\n\nbody \xe9\xff\n\n\nend",
    b"Subject: folded\n header line\n\tand tab\nFrom: a@example.com\n\nbody\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n",
    b"Content-Type: multipart/alternative\n\nno boundary given\n",
    b"Content-Type: message/rfc822\n\nFrom: inner@example.com\n\ninner body\n",
    b"Content-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nAction: failed\n",
    b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n",
    b"Content-Type: MULTIPART/Mixed; boundary=\"q\"\n\n--q\n\nx\n--q--\n",
    b"no headers here at all\n\nbody\n",
    b"",
    b"\n\nbody only\n",
    b"From: a@example.com\n" + b"X-Long: " + b"y" * 20000 + b"\n\n" + b"z" * 20000 + b"\n",
    b"Content-Type: multipart/mixed; boundary=\"a.b(c)*+?\"\n\npreamble\n--a.b(c)*+?\n\none\n"
    b"--a.b(c)*+?  \nContent-Type: multipart/alternative; boundary=in\n\n--in\n\ntwo\n--in--\n"
    b"epi in\n--a.b(c)*+?--\t\r\nepilogue\n",
    b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n--q\r\n\r\nx\r\n--q--",
    b"Content-Type: multipart/mixed; boundary=q\n\n--q\n\nno close boundary\n",
    b"Content-Type: multipart/mixed; boundary=q\n\nno start boundary\n--qq\n",
    b"Content-Type: multipart/digest; boundary=d\n\n--d\n\nFrom: x@example.com\n\nm\n--d--\n",
    b"Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/mixed; "
    b"boundary=i\n\n--i\n\ninner cut by the outer boundary\n--o--\n",
    # header blocks of "\n" lines (_lf_header_fields), and near misses of them
    b"A:b\nB:\nC: \t  c\n\td\n e\n \n\nbody\n\nmore\n",
    b"Bad Name: x\nFrom: a@example.com\n\nbody\n",
    b"From: a@example.com\nX\x7fY: del in the name\n\nbody\n",
    b"From: a@example.com\n\tcontinued\nno field here\n\tcontinued\n\nbody\n",
    b"\tFrom: a@example.com\n\nbody\n",
    b"From: a@example.com\nSubject: a\rb\n\nbody\n",
    b"From: a@example.com\nSubject: x\n\r\n\nbody\n",
    b"From: a@example.com\nX-\xc3\xa9: non-ASCII name\n\nbody\n",
    b"From:a@example.com\n:empty name\n\nbody\n",
    b"From: a@example.com\nSubject: x\n\n",
    # multipart bodies of "\n" lines (_lf_multipart), and near misses of them
    b"Content-Type: multipart/mixed; boundary=b\n\npre\n\n--b\nContent-Type: text/plain\n\none\n\n"
    b"--b \t\n\ntwo, no headers\n--bX not a boundary\n--b\nContent-Type: multipart/alternative;"
    b" boundary=c\n\n--c\n\nin\n--c--\nepi in\n\n--b--\nepilogue\n--b\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b--",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b-- \t",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\nX: headers only\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\ntwo lines in a row\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b--\n--b\n\nclosed first\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nnever closed\n--b\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=c"
    b"\n\n--c\n\nno inner close\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=c"
    b"\n\n--c\n\nx\n--c--\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/mixed; boundary=b"
    b"\n\n--b\n\nsame boundary inside\n--b--\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\n"
    b"From: x@example.com\n\ninner\n--b--\n",
    b"Content-Type: multipart/digest; boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: base64\n\n--b\n\nx\n"
    b"--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: 7BIT\n\n--b\n\nx\n"
    b"--b--\n",
    b"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\nx\n----\n",
    b"Content-Type: multipart/mixed\n\n--b\n\nx\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\nBad Name: x\n\nbody\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\n\n\n--b\n\n\n--b--\n\n",
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\r\n--b--\n",
    b"Content-Type: multipart/mixed; boundary=\"a b\"\n\n--a b\n\nx\n--a b--\n",
]


@pytest.mark.parametrize("raw", CASES)
def test_same_tree_as_the_standard_parse(raw):
    assert _shape(parse_bytes(raw)) == _shape(_STANDARD.parsebytes(raw))


def test_same_tree_on_every_corpus_message(corpus):
    checked = 0
    for folder in ("ham", "spam", "phish", "malformed"):
        for item in iter_sources([str(corpus / folder)]):
            if not isinstance(item, RawMessage):
                continue
            try:
                expected = _shape(_STANDARD.parsebytes(item.data))
            except RecursionError:
                continue
            assert _shape(parse_bytes(item.data)) == expected, item.origin
            checked += 1
    assert checked > 3000


_PIECES = ["From: a@b", "Subject: x", "X-A:", "X-B:  y", "Content-Type: text/plain",
           "Content-Type: multipart/mixed; boundary=z", "--z", "--z--", "Content-Type: message/rfc822",
           ":no name", "From ", "no colon", "body", "é", "\udcff", "\x0c", "\x00", " ", "\t",
           "\r\n", "\n", "\r", "\r\n", "\n", ":", "A"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30))
def test_same_tree_on_generated_text(pieces):
    raw = "".join(pieces).encode("utf-8", "surrogateescape")
    assert _shape(parse_bytes(raw)) == _shape(_STANDARD.parsebytes(raw))


@pytest.mark.parametrize("value", [
    "text/plain", "TEXT/HTML; Charset=\"UTF-8\"", "text/plain; charset*=utf-8''%E2%82%AC",
    "text/plain; charset*=x-unknown''abc", "textplain", "text/plain; charset=caf\udcc3\udca9",
    "text/plain; charset=", "multipart/digest; boundary=x", "", ";;;", "a/b/c; charset=x",
    "text/plain;\n charset=iso-8859-1 (comment)", "image/png; name=\"a;b.png\"; charset=\"\"",
])
def test_content_type_facts_depend_on_the_first_value_alone(value):
    raw = ("X-Other: 1\nContent-Type: " + value + "\nContent-Type: text/html; charset=koi8-r"
           "\n\nbody\n").encode("utf-8", "surrogateescape")
    node = _STANDARD.parsebytes(raw)
    node.set_default_type("message/rfc822")  # as inside a multipart/digest
    assert _content_type_facts(node._headers[1][1]) == _content_facts(node)


def test_the_feed_parser_uses_the_boundary_stand_in():
    assert isinstance(email.feedparser.re, _FeedParserRe)
    assert email.feedparser.re.compile(r"\s+").pattern == r"\s+"  # other patterns: plain re


_BOUNDARY_CHARS = st.sampled_from(list("aZ09'()+_,-./:=? \t\\*[]{}|^$&~#\r\né"))
_LINE_TAILS = st.sampled_from(["", "--", "  ", "\t", "--  ", "\n", "\r\n", "\r", "--\n", " \r\n",
                               "x", "--x", " x\n", "\n\n", "---"])


@settings(max_examples=500, deadline=None)
@given(st.text(_BOUNDARY_CHARS, min_size=1, max_size=20), _LINE_TAILS, st.booleans())
def test_boundary_match_equals_the_compiled_pattern(boundary, tail, prefixed):
    separator = "--" + boundary
    pattern = ("(?P<sep>" + re.escape(separator)
               + r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")
    fast = _FeedParserRe().compile(pattern)
    assert isinstance(fast, _BoundaryMatch)
    line = ("x" if prefixed else "") + separator + tail
    expected = re.compile(pattern).match(line)
    got = fast.match(line)
    assert (got is None) == (expected is None)
    if expected is not None:
        assert got.group("end") == expected.group("end")
        assert got.group("linesep") == expected.group("linesep")


_LINES = ["Content-Type: multipart/mixed; boundary=o", "Content-Type: multipart/alternative; "
          "boundary=i", "Content-Type: text/plain", "Content-Type: message/rfc822",
          "Content-Type: multipart/digest; boundary=i", "X-A: 1", " folded", "", "", "--o", "--o--",
          "--i", "--i--", "--o ", "--ox", "body", "From: a@b", "no colon", "--i--\t"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_LINES), max_size=40), st.booleans())
def test_same_tree_on_generated_multipart_text(lines, final_break):
    text = "Content-Type: multipart/mixed; boundary=o\n\n" + "\n".join(lines)
    raw = (text + ("\n" if final_break else "")).encode()
    assert _shape(parse_bytes(raw)) == _shape(_STANDARD.parsebytes(raw))


_PART_CASES = CASES + [
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; name=\"a.txt\"\n"
    b"CONTENT-TRANSFER-ENCODING:  Base64 \nContent-Disposition: ATTACHMENT ; filename=\"b.txt\"\n\n"
    b"aGVsbG8=\n--b\nContent-Disposition: inline; filename=\"caf\xc3\xa9.txt\"\n"
    b"Content-Transfer-Encoding: quoted-printable\xff\n\ncaf=C3=A9 \xe9\n--b\n"
    b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: 8bit\n"
    b"Content-Disposition: \n\n\xff\xfe raw bytes\n--b\nContent-Type: text/html; charset=koi8-r\n"
    b"Content-Type: text/plain\nContent-Disposition: inline\nContent-Disposition: attachment\n\n"
    b"<p>\xd0\xd2\xc9\xd7\xc5\xd4</p>\n--b\nX-Name: not a content field\n\nplain\n--b--\n",
]


def _node_at(root: Message, path: str) -> Message:
    node = root
    for index in path.split(".")[1:]:
        node = node.get_payload()[int(index) - 1]
    return node


@pytest.mark.parametrize("raw", _PART_CASES)
def test_part_fields_are_what_the_email_package_reads(raw):
    """MimePart fields read from the part's headers directly equal the email
    package's own readings (node.get, get_content_disposition, get_payload)."""
    from mailsphere_cli.message import ParsedMessage, _filenames

    msg = ParsedMessage(raw)
    for part in msg.parts:
        node = _node_at(msg._msg, part.path)
        assert part.cte == str(node.get("Content-Transfer-Encoding", "") or "").strip().lower()
        assert part.disposition == (node.get_content_disposition() or "")
        assert part.filenames == _filenames(node)
        payload = node.get_payload()
        payload = payload if isinstance(payload, str) else ""
        try:
            expected = payload.encode("ascii", "surrogateescape")
        except UnicodeEncodeError:
            expected = payload.encode("utf-8", "surrogateescape")
        assert part.raw_payload == expected


@pytest.mark.parametrize("value", [None, "text/plain", "MULTIPART/Mixed; boundary=x", "multipart",
                                   "message/rfc822", "a/b/c", "", "image/png\n name=x",
                                   "x" * 1001 + "/y", "caf\udcc3\udca9/x"])
def test_maintype_from_the_first_content_type_value(value):
    from mailsphere_cli.message import _maintype

    msg = Message()
    msg._headers = [("X-A", "1"), ("cc", "b@example.com")]
    if value is not None:
        msg._headers += [("content-TYPE", value), ("Content-Type", "multipart/mixed")]
    assert _maintype(msg) == msg.get_content_maintype()
