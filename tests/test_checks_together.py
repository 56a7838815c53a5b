"""Checks whose kinds are worked out together in one pass answer exactly what each
kind's own function answers, on generated inputs (hypothesis) as well as on
hand-picked ones."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailsphere_cli.rules.checks import history

_ID_PIECES = st.sampled_from(["<", ">", "@", ".", " ", "[", "]", "1", "10", "255", "a", "b",
                              "x", "paypa1", "paypal", "com", "example", "\u00e9", "\t", "PAYPA1"])


@settings(max_examples=600, deadline=None)
@given(st.lists(_ID_PIECES, max_size=14).map("".join))
def test_message_id_kinds_together_answer_like_each_judge(text):
    value = text.strip()
    if not value:
        return
    together = history._every_message_id_kind(value)
    facts = history._MessageId(value)
    assert together == {kind: judge(facts) for kind, judge in history._MESSAGE_ID_KINDS.items()}


def test_message_id_kinds_together_on_hand_picked_values():
    for value in ["<a@b.example>", "a@b.example", "<a b@c.example>", "<abc>", "<x@[10.1.2.3]>",
                  "<x@10.1.2.3>", "<x@localhost>", "<x@paypa1.com>", "<x@y@10.0.0.1>",
                  "<x@[1.2.3.4]", "<x@1.2.3.4.5>", "<@1.2.3.4>", "<x@>", "<x@.>"]:
        facts = history._MessageId(value)
        assert history._every_message_id_kind(value) == \
            {kind: judge(facts) for kind, judge in history._MESSAGE_ID_KINDS.items()}, value


_QUOTE_PIECES = st.sampled_from([">", "> ", "a", " ", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c",
                                 "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "On Mon, Bob wrote:\n",
                                 "WROTE:", "Wrote:", "bob wrote:", "-----Original Message-----",
                                 "-----ORIGINAL MESSAGE-----", "Quoting ", "QUOTING ", "\u00e9",
                                 "\u212a", "\u017f", "\u0131", "\u0130", "quot\u0131ng ", "wr\u017fote:"])


@settings(max_examples=1500, deadline=None)
@given(st.lists(_QUOTE_PIECES, max_size=30).map("".join), st.sampled_from([0, 1, 3]))
def test_quoted_reply_text_answers_like_its_plain_form(text, minimum):
    """Lines starting with ">" counted from splitlines, the attribution by the re.I
    pattern as written: what the check's shortcuts must give."""
    from types import SimpleNamespace

    from mailsphere_cli.rules.checks import ham

    quoted = sum(1 for line in text.splitlines() if line.startswith(">"))
    expected = f"{quoted} quoted lines with an attribution" \
        if quoted >= minimum and ham._ATTRIBUTION.search(text) else ""
    assert ham.quoted_reply_text(SimpleNamespace(text=text), None, minimum) == expected


_SUBJECT_PIECES = st.sampled_from(["", " ", "FREE", "free", "Re:", "URGENT", "AB", "ABC", "aBC",
                                   "a b c d", "v.i.a.g.r.a", "order #12345", "invoice ab1234",
                                   "bug 123456", "12", "123", "9999x", "-", "_", "\t", "\u00c9T\u00c9",
                                   "CAF\u00c9", "\u0661\u0662\u0663", "\u212a", "ticket", "ID-99999"])


@settings(max_examples=1500, deadline=None)
@given(st.lists(_SUBJECT_PIECES, max_size=10).map(" ".join))
def test_subject_kinds_kept_per_subject_answer_like_each_kind(subject):
    """The capital-run and digit-run shortcuts before the costly patterns change no answer."""
    from mailsphere_cli.rules.checks import content

    kept = content._subject_text_kinds.__wrapped__(subject)
    assert kept == {kind: content._subject_kind(None, subject, kind) for kind in content._TEXT_KINDS}


def _trail(rng, base):
    from datetime import timedelta
    from types import SimpleNamespace

    relays = []
    for _ in range(rng.randrange(0, 5)):
        stamp = None if rng.random() < 0.3 else base + timedelta(hours=rng.randrange(-400, 400) / 4)
        if stamp is not None and rng.random() < 0.1:
            stamp = stamp.replace(tzinfo=None)
        relays.append(SimpleNamespace(timestamp=stamp))
    handover = rng.choice([None, 0, 1, 2, 5, -1]) if relays else rng.choice([None, 0])
    return SimpleNamespace(relays=relays or rng.choice([[], None]), handover=handover)


def test_date_offset_batch_reads_the_clock_as_reference_clock_does():
    """Trails with and without times, a handover out of range or absent, naive and aware
    dates: the batch answers what each rule alone answers (which asks reference_clock)."""
    import random
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace

    from mailsphere_cli.rules.loader import load_rules

    shipped = [dict(r.args) for r in load_rules().by_kind("eval") if r.function == "date_offset"]
    rng = random.Random(21)
    base = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    fired = 0
    for _ in range(3000):
        ctx = _trail(rng, base)
        date = rng.choice([None, base, base.replace(tzinfo=None)])
        if date is not None:
            date += timedelta(hours=rng.randrange(-2000, 2000) / 8)
        msg = SimpleNamespace(date=date, header=lambda name: "Mon, 1 Jan 2024 00:00:00 +0000")
        try:
            alone = [history.date_offset(msg, ctx, **args) for args in shipped]
        except IndexError:  # a handover past the trail: the rules alone fail, and so does the batch
            continue
        assert history.date_offset_batch(msg, ctx, shipped) == alone
        fired += sum(map(bool, alone))
    assert fired > 100


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["Mon, 1 Jan 2024 10:00:00 +0000", "1 Jan 2024 10:00:00 -0000",
                        "Mon, 1 Jan 2024 10:00:00 +0530", "Mon, 1 Jan 2024 10:00:00 +0007",
                        "Mon, 1 Jan 2024 10:00:00 +1500", "Mon, 1 Jan 2024 10:00:00 -1445",
                        "Mon, 1 Jan 2024 10:00:00 GMT", "Mon, 1 Jan 2024 10:00:00 EST",
                        "Mon, 1 Jan 2024 10:00:00", "garbage", "", "Mon, 1 Jan 2024 10:00 +0100"]))
def test_date_shape_kinds_together_answer_like_each_kind(value):
    from mailsphere_cli.message import ParsedMessage

    msg = ParsedMessage(f"Date: {value}\r\nSubject: x\r\n\r\nbody\r\n".encode())
    kinds = [{"kind": k} for k in ("unparseable", "no_zone", "odd_zone")]
    alone = [history.date_shape(msg, None, **args) for args in kinds]
    assert history.date_shape_batch(msg, None, kinds) == alone


def test_count_and_header_batches_answer_like_each_rule_and_fall_back_on_bad_arguments():
    import pytest

    from mailsphere_cli.message import ParsedMessage
    from mailsphere_cli.rules.checks import CHECKS

    raws = [b"Subject: x\r\n\r\nbody\r\n",
            b"Date: now\r\nTo: a@b.example\r\nReceived: from a by b; now\r\nReceived: x\r\n\r\nb\r\n",
            b"Content-Type: multipart/mixed; boundary=z\r\n\r\n" + b"--z\r\n\r\npart\r\n" * 25 + b"--z--\r\n"]
    from types import SimpleNamespace
    cases = {"header_missing": [{"name": "Date"}, {"name": "To"}, {"name": "subject"}],
             "mime_part_count": [{"minimum": 1}, {"minimum": 20}, {"minimum": 60}],
             "received_count": [{"minimum": 1, "maximum": 1}, {"minimum": 2}, {}, {"maximum": 0}]}
    for raw in raws:
        msg = ParsedMessage(raw)
        for ctx in (SimpleNamespace(relays=None), SimpleNamespace(relays=[1, 2, 3])):
            for name, args_list in cases.items():
                check = CHECKS[name]
                assert check.batch(msg, ctx, args_list) == [check.fn(msg, ctx, **a) for a in args_list]
                with pytest.raises((TypeError, KeyError)):
                    check.batch(msg, ctx, args_list + [{"nonsense": 1}])


def test_charset_batch_answers_like_each_rule():
    import random

    from mailsphere_cli.message import ParsedMessage
    from mailsphere_cli.rules.checks import CHECKS

    check = CHECKS["mime_charset"]
    args_list = [{"charsets": ["KOI8-R", "windows-1251"]}, {"charsets": ["gb2312", "big5"]},
                 {"charsets": ["utf-8"]}]
    rng = random.Random(22)
    for _ in range(300):
        charset = rng.choice(["", "koi8-r", '"KOI8-R"', "utf-8", "big5", "us-ascii", "GB2312"])
        subject = rng.choice(["plain", "=?koi8-r?B?8fE=?=", "=?UTF-8?Q?x?=", "=?big5?q?a?=", "a =? b"])
        kind = rng.choice(["text/plain", "text/html", "image/png"])
        raw = (f"Subject: {subject}\r\nContent-Type: {kind}" + (f"; charset={charset}" if charset else "")
               + "\r\n\r\nbody\r\n").encode()
        msg = ParsedMessage(raw)
        assert check.batch(msg, None, args_list) == [check.fn(msg, None, **a) for a in args_list]


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(["$", "\u20ac", "\u00a3", "USD", "EUR", "GBP", "dollars", "US", "D",
                                 "dollar", "euro", "a", " ", "\u00e9", "\u0416", "5"]), max_size=8).map("".join))
def test_money_marks_found_as_the_plain_test_finds_them(body):
    from mailsphere_cli.rules.checks import content

    assert content._money_marked(body) == any(mark in body for mark in content._MONEY_MARKS)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from([" ", "\n", "\t", "\u2003", "\x1c", "a", "word ", "\u00e9", "x" * 70,
                                 " " * 70, "\n" * 40]), max_size=40).map("".join))
def test_stripped_length_is_the_length_of_the_stripped_text(text):
    from mailsphere_cli.rules.checks import content

    assert content._stripped_length(text) == len(text.strip())


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 5100), st.sampled_from(["", "\n", "x" * 6000]))
def test_pgp_marker_found_within_the_first_5000_characters_only(at, tail):
    from types import SimpleNamespace

    from mailsphere_cli.rules.checks import ham

    text = "a" * at + "-----BEGIN PGP SIGNED MESSAGE-----" + tail
    expected = "inline PGP signature" if "-----BEGIN PGP SIGNED MESSAGE-----" in text[:5000] else ""
    assert ham.pgp_signed(SimpleNamespace(parts=[], text=text), None) == expected


_REF_PIECES = st.sampled_from(["<a@b>", "<a@b.example>", "<", ">", "@", "a", " ", "\t", "\x1c",
                               "=?utf-8?q?=3Ca=40b=3E?=", "=?utf-8?b?PGFAYj4=?=", "\u00e9", "<a b@c>",
                               "<@>", "<a@>", "x@y"])


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.none(), st.lists(_REF_PIECES, max_size=8).map("".join)),
       st.one_of(st.none(), st.lists(_REF_PIECES, max_size=8).map("".join)),
       st.sampled_from(["Re: hello", "hello", "AW: x"]))
def test_thread_reply_reads_plain_reference_headers_as_they_stand(in_reply_to, references, subject):
    """thread_reply searches plain ASCII values undecoded: the same answer as searching
    the decoded In-Reply-To and References joined by a blank."""
    from mailsphere_cli.message import ParsedMessage
    from mailsphere_cli.rules.checks import ham

    head = f"Subject: {subject}\r\n"
    for name, value in (("In-Reply-To", in_reply_to), ("References", references)):
        if value is not None:
            head += f"{name}: {value}\r\n"
    msg = ParsedMessage((head + "\r\nbody\r\n").encode("utf-8"))
    refs = ham._references(msg)
    expected = f"reply: {msg.subject[:60]}" if refs and ham._MESSAGE_REF.search(refs) \
        and ham._REPLY_SUBJECT.match(msg.subject) else ""
    assert ham.thread_reply(msg, None) == expected
