"""Fast paths of the HTML-related eval checks against the plain forms they replace:
mime_alternatives_disagree's word sets (ASCII text lowercased whole) over generated
text and the corpus."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailsphere_cli.message import ParsedMessage
from mailsphere_cli.rules.checks import mime
from mailsphere_cli.sources import iter_sources

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


def _plain_words(text: str) -> set[str]:
    return {w.lower() for w in mime._WORD.findall(text)}


_WORDISH = st.text(alphabet=st.sampled_from(list("abcXYZ qQ_9-\n\t\u212a\xe9\u0130\xdf\xb2\xa0\u2014\xa9.")), max_size=80)


@settings(max_examples=400, deadline=None)
@given(_WORDISH)
def test_generated_word_sets_equal_the_plain_form(text):
    assert mime._lower_words(text) == _plain_words(text)


@pytest.mark.parametrize("text", ["", "abc", "ABCD efgh IJKL", "Kelvin \u212aelvin", "STRASSE stra\xdfe",
                                  "\u0130stanbul ISTANBUL", "word_with_under scores_", "caf\xe9s CAF\xc9S"])
def test_word_sets_equal_the_plain_form(text):
    assert mime._lower_words(text) == _plain_words(text)


def test_corpus_word_sets_equal_the_plain_form():
    if not CORPUS.is_dir():
        pytest.skip("shared corpus not present")
    seen = 0
    for folder in ("ham", "spam", "phish"):
        for raw in iter_sources([str(CORPUS / folder)]):
            msg = ParsedMessage(raw.data)
            for text in (msg.text[:20000], msg.html_text[:20000] if msg.html else ""):
                assert mime._lower_words(text) == _plain_words(text)
            seen += 1
    assert seen > 1000
