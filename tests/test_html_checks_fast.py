"""Fast paths of the HTML-related eval checks against the plain forms they replace, over
generated text and the corpus: mime_alternatives_disagree's word sets (ASCII text
lowercased whole) and html_invisible_colour's colours (ASCII styles searched lowercased)."""
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


def _corpus_messages():
    """Every message of the shared corpus's ham, spam and phish, parsed (skips without it)."""
    if not CORPUS.is_dir():
        pytest.skip("shared corpus not present")
    for folder in ("ham", "spam", "phish"):
        for raw in iter_sources([str(CORPUS / folder)]):
            yield ParsedMessage(raw.data)


def test_corpus_word_sets_equal_the_plain_form():
    seen = 0
    for msg in _corpus_messages():
        for text in (msg.text[:20000], msg.html_text[:20000] if msg.html else ""):
            assert mime._lower_words(text) == _plain_words(text)
        seen += 1
    assert seen > 1000


# html_invisible_colour's colour and background values: ASCII styles searched lowercased
# against the re.I patterns on the style itself.

from mailsphere_cli.rules.checks import html as html_checks  # noqa: E402


def _plain_colours(style: str) -> tuple[str | None, str | None]:
    colour = html_checks._COLOR.search(style)
    back = html_checks._BACKGROUND.search(style)
    return colour.group(1) if colour else None, back.group(1) if back else None


_STYLE_PIECES = ["color", "COLOR", "Color", "background", "BackGround-Color", "background-color", "-",
                 "_", "x", "border-", ":", " : ", ";", " ", "\n", "#fff", "#FFFFFF", "White", "red",
                 "font-color", "bgcolor", "\u212a", "\xe9", "c\u0130lor", "colo", "r", "1"]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_STYLE_PIECES), max_size=14).map("".join))
def test_generated_style_colours_equal_the_plain_search(style):
    assert html_checks._colours(style) == _plain_colours(style)


@pytest.mark.parametrize("style", ["", "color:#FFF", "COLOR : White;background:#fff", "xcolor:red",
                                   "-color:red; color:Blue", "background-color:Black;color:black",
                                   "font-color:x", "color:\xe9t\xe9", "\u212acolor:red"])
def test_style_colours_equal_the_plain_search(style):
    assert html_checks._colours(style) == _plain_colours(style)


def test_corpus_style_colours_equal_the_plain_search():
    seen = 0
    for msg in _corpus_messages():
        if msg.html and msg.html_doc.tree is not None:
            for node in msg.html_doc.tree.css("[style]"):
                style = node.attributes.get("style") or ""
                assert html_checks._colours(style) == _plain_colours(style), style
                seen += 1
    assert seen > 1000


_SIZE_PIECES = ["display", "DISPLAY", "visibility", "Hidden", "none", "opacity", "0", ".0", "0.00", "font-size",
                "FONT-SIZE", "1px", "2PT", ".5", "height", "max-height", "Overflow", "px", "%", "em", ":",
                " : ", ";", " ", "\n", '"', "\u212a", "\xe9", "x", "-"]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_SIZE_PIECES), max_size=14).map("".join))
def test_generated_hidden_and_tiny_styles_equal_the_plain_search(style):
    for pattern, lower in ((html_checks._HIDDEN_STYLE, html_checks._HIDDEN_STYLE_LOWER),
                           (html_checks._TINY_STYLE, html_checks._TINY_STYLE_LOWER)):
        assert html_checks._style_matches(pattern, lower, style) == (pattern.search(style) is not None)


@pytest.mark.parametrize("style", ["display:none", "DISPLAY : NONE", "opacity:0\n", "opacity:0\nx",
                                   "font-size:0px;", "Font-Size: 1PX", "max-height:1px;OVERFLOW:hidden",
                                   "height:0px\noverflow:hidden", "font-size:2pt\n\n", "font-size:1px\"",
                                   "visibility:hidden\xe9"])
def test_hidden_and_tiny_styles_equal_the_plain_search(style):
    for pattern, lower in ((html_checks._HIDDEN_STYLE, html_checks._HIDDEN_STYLE_LOWER),
                           (html_checks._TINY_STYLE, html_checks._TINY_STYLE_LOWER)):
        assert html_checks._style_matches(pattern, lower, style) == (pattern.search(style) is not None)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_SIZE_PIECES + ["max-", "MAX-HEIGHT"]), max_size=20).map("".join))
def test_generated_styles_of_a_page_searched_as_the_plain_pattern(styles):
    for pattern, any_pattern, lower in (
            (html_checks._HIDDEN_STYLE, html_checks._HIDDEN_STYLE_ANY, html_checks._HIDDEN_STYLE_ANY_LOWER),
            (html_checks._TINY_STYLE, html_checks._TINY_STYLE_ANY, html_checks._TINY_STYLE_ANY_LOWER)):
        assert html_checks._any_style(any_pattern, lower, styles) == (any_pattern.search(styles) is not None)
