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
