"""A message's decoded header values, read once and shared (the relay chain and the
pattern pass's header views both read them), equal decoding each value where it is
read: the relay chain built from them is the chain of `parse_received` over the raw
values, and the pattern pass's header hits are those of a matcher fed fresh decodes."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailsphere_cli.message import ParsedMessage, decode_header_value
from mailsphere_cli.perimeter.received import (MAX_HEADER_CHARS, MAX_RECEIVED, parse_received,
                                               relay_chain)
from mailsphere_cli.rules.loader import load_rules
from mailsphere_cli.rules.matcher import PatternMatcher, _decoded_view
from mailsphere_cli.sources import RawMessage, iter_sources

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"

_BLANKS = [" ", "\t", "  ", "\x0b", "\x0c", "\x1c", "\x1f", "\xa0", "\u2003"]
_WORDS = ["from", "by", "mx.example.org", "(localhost [127.0.0.1])", "with", "ESMTP", "id",
          "4Xy7Z", ";", "Mon, 5 Jan 2026 10:15:00 +0100", "=?utf-8?q?caf=C3=A9?=", "=?",
          "caf\xe9", "\u212aelvin", "=?iso-8859-1?b?Y2Fm6Q==?=", "Jan,", "12", "2026"]
_VALUE = st.lists(st.tuples(st.sampled_from(_WORDS), st.sampled_from(_BLANKS)),
                  min_size=0, max_size=12).map(lambda parts: "".join(w + b for w, b in parts))


def _message(received: list[str], subject: str = "hello") -> ParsedMessage:
    head = "".join(f"Received: {value}\n" for value in received)
    return ParsedMessage(f"{head}Subject: {subject}\nFrom: a@b.example\n\nbody\n"
                         .encode("utf-8", "surrogateescape"))


def _standard_chain(msg: ParsedMessage) -> list:
    return [parse_received(v) for v in msg.raw_header_values("Received")[:MAX_RECEIVED]]


@settings(max_examples=300, deadline=None)
@given(st.lists(_VALUE, min_size=1, max_size=5), _VALUE)
def test_decoded_values_equal_decoding_each_value(received, subject):
    msg = _message(received, subject)
    for name in ("Received", "Subject", "X-Absent"):
        assert msg.decoded_values(name) == [decode_header_value(v)
                                            for v in msg.raw_header_values(name)]
    assert msg.header("Subject") == msg.decoded_values("subject")[0]
    assert relay_chain(msg) == _standard_chain(msg)


def test_header_decoded_first_is_the_same_first_value():
    msg = _message(["from a by b; Mon, 5 Jan 2026 10:15:00 +0100"],
                   "=?utf-8?q?caf=C3=A9?= \t news")
    first = msg.header("subject")
    assert msg.decoded_values("Subject") == [first] == ["café news"]


def test_relay_chain_of_long_and_many_values_equals_the_standard_one():
    long_value = "from a.example (a.example [192.0.2.1]) by b.example with ESMTP id X " \
                 + "y " * MAX_HEADER_CHARS + "; Mon, 5 Jan 2026 10:15:00 +0100"
    many = [f"from h{n}.example by mx.example with SMTP id {n}; Mon, 5 Jan 2026 10:15:00 +0100"
            for n in range(MAX_RECEIVED + 5)]
    for received in ([long_value], many, [long_value] + many):
        msg = _message(received)
        chain = relay_chain(msg)
        assert chain == _standard_chain(msg)
        assert len(chain) == min(len(received), MAX_RECEIVED)


def _corpus_messages(limit: int) -> list[bytes]:
    out = []
    for folder in ("ham", "spam", "phish", "malformed"):
        items = [i.data for i in iter_sources([str(CORPUS / folder)]) if isinstance(i, RawMessage)]
        out.extend(items[:limit])
    return out


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not present")
def test_corpus_relay_chains_and_header_views_equal_fresh_decodes():
    matcher = PatternMatcher(load_rules().rules.values())
    for data in _corpus_messages(150):
        msg = ParsedMessage(data)
        assert relay_chain(msg) == _standard_chain(ParsedMessage(data))
        for name, header in matcher.headers.items():
            raw = msg.raw_header_values(name)
            fresh = [decode_header_value(v) for v in raw]
            assert msg.decoded_values(name) == fresh
            for target in header.targets:
                if target.view != "raw":
                    assert _decoded_view(msg.decoded_values(name), target.view) \
                        == _decoded_view(fresh, target.view)
