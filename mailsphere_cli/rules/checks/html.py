"""Eval checks on the HTML body, read with the parsed tree (selectolax) so that
they judge what a reader would or would not see. Every walk is capped."""
from __future__ import annotations

import re
from typing import Any

from mailsphere_cli.rules.checks import check, count_upto, for_text, per_message, runs_of

MAX_NODES = 400
_HIDDEN_BRANCHES = (r"display\s*:\s*none", r"visibility\s*:\s*hidden", r"opacity\s*:\s*0(?:\.0+)?\s*(?:;|$)",
                    r"font-size\s*:\s*0(?:\.\d+)?\s*(?:px|pt|em|%)?\s*(?:;|$)",
                    r"(?:max-)?height\s*:\s*[01]px.*overflow\s*:\s*hidden")
_HIDDEN_STYLE = re.compile("|".join(_HIDDEN_BRANCHES), re.I)
_TINY_STYLE = re.compile(r"font-size\s*:\s*(?:0?\.\d+|[0-2])(?:px|pt)?\s*(?:;|$|\")", re.I)
_COLOR = re.compile(r"(?<![-\w])color\s*:\s*([#\w]+)", re.I)
_BACKGROUND = re.compile(r"background(?:-color)?\s*:\s*([#\w]+)", re.I)
# The same two for ASCII text lowercased first, each starting with its word so that re
# skips ahead to it (with re.I, or the lookbehind first, it tried every position:
# about 6,000 instructions a style): the lookbehind moved after the word it guards.
_COLOR_LOWER = re.compile(r"color(?<![-\w]color)\s*:\s*([#\w]+)")
_BACKGROUND_LOWER = re.compile(r"background(?:-color)?\s*:\s*([#\w]+)")


def _colours(style: str) -> tuple[str | None, str | None]:
    """(_COLOR's value, _BACKGROUND's value) in a style, None for one not there. An
    ASCII style is searched lowercased (a match there spans the same characters as
    the re.I one in the style: its value is read from the style itself)."""
    if not style:
        return None, None
    if style.isascii():
        lower = style.lower()
        colour = _COLOR_LOWER.search(lower)
        back = _BACKGROUND_LOWER.search(lower)
        return (style[colour.start(1):colour.end(1)] if colour else None,
                style[back.start(1):back.end(1)] if back else None)
    colour = _COLOR.search(style)
    back = _BACKGROUND.search(style)
    return colour.group(1) if colour else None, back.group(1) if back else None
# The same patterns over every style of a page at once, one a line: `$` must
# then also match at each line's end. Whatever matches one style matches there.
_HIDDEN_STYLE_ANY = re.compile(_HIDDEN_STYLE.pattern, re.I | re.M)
_TINY_STYLE_ANY = re.compile(_TINY_STYLE.pattern, re.I | re.M)
# The same without re.I, for ASCII text lowercased first (re then skips ahead to the
# characters a match can start with instead of trying every branch at every character)
_HIDDEN_STYLE_ANY_LOWER = re.compile(_HIDDEN_STYLE.pattern, re.M)
_TINY_STYLE_ANY_LOWER = re.compile(_TINY_STYLE.pattern, re.M)
# and for one ASCII style lowercased (no re.M: `$` as in _HIDDEN_STYLE and _TINY_STYLE)
_HIDDEN_STYLE_LOWER = re.compile(_HIDDEN_STYLE.pattern)
_TINY_STYLE_LOWER = re.compile(_TINY_STYLE.pattern)


def _style_matches(pattern: re.Pattern[str], lower: re.Pattern[str], style: str) -> bool:
    """Whether `pattern` (re.I) matches in the one style (with re.I re tried every
    position; an ASCII style is lowercased and searched without it)."""
    if style.isascii():
        return lower.search(style.lower()) is not None
    return pattern.search(style) is not None


# _HIDDEN_STYLE_ANY_LOWER branch by branch, each starting with its word ("height" for
# "(?:max-)?height": whatever matches with "max-" matches from "height" too): re skips
# ahead to a literal word, where the alternation had it try five branches at every
# d, f, h, m, o and v of a page's styles
_HIDDEN_STYLE_ANY_WORDS = tuple(re.compile(branch.removeprefix("(?:max-)?"), re.M)
                                for branch in _HIDDEN_BRANCHES)


def _any_style(pattern: re.Pattern[str], lower: re.Pattern[str], styles: str) -> bool:
    """Whether `pattern` (re.I) matches anywhere in `styles`."""
    if styles.isascii():
        styles = styles.lower()
        if lower is _HIDDEN_STYLE_ANY_LOWER:
            return any(branch.search(styles) is not None for branch in _HIDDEN_STYLE_ANY_WORDS)
        return lower.search(styles) is not None
    return pattern.search(styles) is not None


_WHITE = {"#fff", "#ffffff", "white", "#fefefe", "#fdfdfd", "#fcfcfc"}


_REMOTE = re.compile(r"\s*https?://", re.I)
_WORD3 = runs_of(r"[^\W\d_]", r"[\W\d_]", 3)  # [^\W\d_]{3,}: words of three letters or more
_WORD3_ASCII = runs_of("[A-Za-z]", "[^A-Za-z]", 3)  # _WORD3 on ASCII text
_SPACE_RUNS = re.compile(r"\s+")
_HEX3 = re.compile(r"#[0-9a-f]{3}")
_HTTP = re.compile(r"\s*https?://", re.I)
_SENSITIVE = re.compile(r"pin|cvv|cvv2|ssn|social|card|expir|passw|account|routing|mother")
_CLICK_HERE = re.compile(r"\s*(?:click|tap|press)\s+here[.!]*\s*|\s*here\s*", re.I)
# A comment inside a word: what follows "<!--" in _COMMENT_IN_WORD
_COMMENT_TAIL = re.compile(r"<!--[^>]{0,200}-->[A-Za-z]")
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


# What the lowercased source must hold for the parser to make a form, input, font or
# img element (a start tag of that name in any case; "<image" becomes img too, and
# "<im" finds both) or an element with a style attribute (the word, anywhere): the
# parser makes these from such text only, so a document without it has none.
# lower() may add matches (a Kelvin sign becomes "k"), never lose one.
_TAG_NEEDLES = (("form", "<form"), ("input", "<input"), ("font", "<font"), ("img", "<im"),
                ("style", "style"))


@per_message
def _tags_present(msg: Any) -> frozenset[str]:
    """Which of "form", "input", "font", "img" and "style" the HTML the tree was parsed
    from may hold (_TAG_NEEDLES): a look at the lowercased source (12 us for a corpus
    document, less than the three regex searches this replaced) instead of a CSS query
    over the tree (a walk of every element, tens of microseconds) for each of them.
    On the corpus 314 of 650 HTML documents have no style attribute, 185 no image."""
    source = msg.html_doc.source.lower()
    return frozenset([name for name, needle in _TAG_NEEDLES if needle in source])


@per_message
def _images(msg: Any) -> list[tuple[Any, str, str, str, str]]:
    """(node, src, alt, width, height) of the first MAX_NODES images: read once for the four
    html_images rules (selectolax makes a new attribute dict at every `attributes`)."""
    if "img" not in _tags_present(msg):
        return []
    out = []
    for node in msg.html_doc.tree.css("img")[:MAX_NODES]:
        attrs = node.attributes
        out.append((node, attrs.get("src") or "", attrs.get("alt") or "", attrs.get("width") or "",
                    attrs.get("height") or ""))
    return out


def _tree(msg: Any):
    return msg.html_doc.tree if msg.html else None


def _text_of(node: Any) -> str:
    return _SPACE_RUNS.sub(" ", node.text(deep=True, separator=" ")).strip()


@per_message
def _styled(msg: Any) -> list[tuple[Any, str]]:
    """(node, its style attribute) of the first MAX_NODES elements with a style."""
    if "style" not in _tags_present(msg):
        return []
    return [(node, node.attributes.get("style") or "") for node in
            msg.html_doc.tree.css("[style]")[:MAX_NODES]]


@per_message
def _styles_text(msg: Any) -> str:
    """Every style attribute, one a line: one search tells whether any could match."""
    return "\n".join(style for _, style in _styled(msg))


@check("html_hidden_text", requires="html")
def html_hidden_text(msg: Any, ctx: Any, minimum: int = 20) -> str:
    """Text inside elements styled not to show (display:none, zero size or opacity)."""
    tree = _tree(msg)
    if tree is None:
        return ""
    if not _any_style(_HIDDEN_STYLE_ANY, _HIDDEN_STYLE_ANY_LOWER, _styles_text(msg)):
        return ""
    for node, style in _styled(msg):
        if _style_matches(_HIDDEN_STYLE, _HIDDEN_STYLE_LOWER, style):
            text = _text_of(node)
            if len(text) >= minimum:
                return f"hidden ({style.strip()[:40]}): {text[:60]}"
    return ""


@check("html_tiny_text", requires="html")
def html_tiny_text(msg: Any, ctx: Any, minimum: int = 20) -> str:
    """Text in a font too small to read (font-size 0-2px, or <font size=1> and below
    when it carries a lot of words)."""
    tree = _tree(msg)
    if tree is None:
        return ""
    if _any_style(_TINY_STYLE_ANY, _TINY_STYLE_ANY_LOWER, _styles_text(msg)):
        for node, style in _styled(msg):
            if not _style_matches(_TINY_STYLE, _TINY_STYLE_LOWER, style):
                continue
            text = _text_of(node)
            if len(text) >= minimum:
                return f"tiny text: {text[:60]}"
    for node in tree.css("font[size]")[:MAX_NODES] if "font" in _tags_present(msg) else ():
        size = (node.attributes.get("size") or "").strip()
        if size in ("0", "-2", "-3", "-4", "1px", "0px"):
            text = _text_of(node)
            if len(text) >= minimum:
                return f"<font size={size}>: {text[:60]}"
    return ""


def _background(msg: Any) -> str:
    tree = _tree(msg)
    body = tree.body if tree is not None else None
    if body is None:
        return "#ffffff"
    colour = (body.attributes.get("bgcolor") or "").lower()
    style = _BACKGROUND.search(body.attributes.get("style") or "")
    if style:
        colour = style.group(1).lower()
    return colour or "#ffffff"


def _norm(colour: str) -> str:
    colour = colour.lower().strip()
    if _HEX3.fullmatch(colour):
        colour = "#" + "".join(c * 2 for c in colour[1:])
    if colour == "white":
        return "#ffffff"
    if colour == "black":
        return "#000000"
    return colour


@check("html_invisible_colour", requires="html")
def html_invisible_colour(msg: Any, ctx: Any, minimum: int = 20) -> str:
    """Text coloured like the page (white on white), in a <font color> or a style,
    on an element without its own different background."""
    tree = _tree(msg)
    if tree is None:
        return ""
    page = _norm(_background(msg))
    # without a font element the query finds the styled elements alone, as _styled did
    nodes = tree.css("font[color], [style]")[:MAX_NODES] if "font" in _tags_present(msg) else \
        [node for node, _ in _styled(msg)]
    for node in nodes:
        attrs = node.attributes
        colour = attrs.get("color") or ""
        style = attrs.get("style") or ""
        found, back = _colours(style)
        if found:
            colour = found
        if not colour:
            continue
        background = _norm(back) if back else _norm(attrs.get("bgcolor") or page)
        if _norm(colour) == background:
            text = _text_of(node)
            if len(text) >= minimum:
                return f"text in {colour} on {background}: {text[:60]}"
    return ""


@check("html_images", requires="html")
def html_images(msg: Any, ctx: Any, kind: str, minimum: int = 1) -> str:
    tree = _tree(msg)
    if tree is None:
        return ""
    images = _images(msg)
    if kind == "remote_only_little_text":
        if msg.text and not msg.text.isspace():
            return ""
        remote = [src for _, src, _, _, _ in images if _REMOTE.match(src)]
        if not remote or len(remote) != len(images):
            return ""
        text = msg.html_text[:5000]
        words = count_upto(for_text(_WORD3, _WORD3_ASCII, text), text, 30)
        return f"{len(remote)} remote images and {words} words" if words < 30 else ""
    if kind == "many":
        return f"{len(images)} images" if len(images) >= minimum else ""
    if kind == "no_alt_linked":
        bare = [node for node, _, alt, _, _ in images if not alt.strip()
                and node.parent is not None and node.parent.tag == "a"]
        return f"{len(bare)} linked images without alt text" if len(bare) >= minimum else ""
    if kind == "tracking_pixel":
        for _, src, _, w, h in images:
            if w.strip() in ("0", "1") and h.strip() in ("0", "1"):
                return f"1x1 image {src[:80]}"
        return ""
    raise ValueError(f"unknown html_images kind {kind!r}")


@check("html_comment_stuffing", requires="html")
def html_comment_stuffing(msg: Any, ctx: Any, minimum: int) -> str:
    """Comments splitting words (vi<!-- x -->agra) or many comments in little text."""
    html = msg.html[:200_000]
    if "<!--" not in html:
        return ""
    inside = _comments_in_words(html)
    if len(inside) >= minimum:
        return f"{len(inside)} comments inside words: {inside[0][:40]}"
    return ""


def _comments_in_words(html: str) -> list[str]:
    """re.findall(r"[A-Za-z]<!--[^>]{0,200}-->[A-Za-z]", html), found from each "<!--"
    rather than tried at every letter of the page."""
    found: list[str] = []
    start = 0  # where the next match may begin
    at = html.find("<!--", 1)
    while at >= 0:
        if at - 1 >= start and html[at - 1] in _ASCII_LETTERS:
            tail = _COMMENT_TAIL.match(html, at)
            if tail:
                found.append(html[at - 1: tail.end()])
                start = tail.end()
                at = html.find("<!--", start + 1)
                continue
        at = html.find("<!--", at + 1)
    return found


@check("html_form", requires="html")
def html_form(msg: Any, ctx: Any, kind: str) -> str:
    tree = _tree(msg)
    if tree is None:
        return ""
    if kind in _FORM_KINDS and _FORM_KINDS[kind] not in _tags_present(msg):
        return ""  # no input field (password, sensitive_inputs) or no form (external_action)
    if kind == "password":
        found = tree.css("input[type=password], input[type=PASSWORD], input[type=Password]")
        return f"{len(found)} password fields" if found else ""
    if kind == "external_action":
        for form in tree.css("form")[:20]:
            action = form.attributes.get("action") or ""
            if _HTTP.match(action):
                return f"form posts to {action[:100]}"
        return ""
    if kind == "sensitive_inputs":
        names = " ".join((i.attributes.get("name") or "") + " " + (i.attributes.get("id") or "")
                         for i in tree.css("input")[:MAX_NODES]).lower()
        found = _SENSITIVE.findall(names)
        return f"inputs ask for {', '.join(sorted(set(found))[:4])}" if len(set(found)) >= 2 else ""
    raise ValueError(f"unknown html_form kind {kind!r}")


_FORM_KINDS = {"password": "input", "sensitive_inputs": "input", "external_action": "form"}


@check("html_text_ratio_low", requires="html")
def html_text_ratio_low(msg: Any, ctx: Any, maximum_words: int) -> str:
    """HTML with links but almost no words of its own."""
    if not msg.html or (msg.text and not msg.text.isspace()):  # = msg.text.strip(), no copy
        return ""
    anchors = len(msg.html_doc.anchors)
    if not anchors:
        return ""
    text = msg.html_text[:5000]
    words = count_upto(for_text(_WORD3, _WORD3_ASCII, text), text, maximum_words + 1)
    return f"{words} words, {anchors} links" if words <= maximum_words else ""


@check("html_anchor_text", requires="html")
def html_anchor_text(msg: Any, ctx: Any, kind: str) -> str:
    if not msg.html:
        return ""
    anchors = msg.html_doc.anchors[:MAX_NODES]
    if kind == "click_here":
        for a in anchors:
            if _CLICK_HERE.fullmatch(a.text):
                return f"'{a.text.strip()}' -> {a.href[:80]}"
        return ""
    if kind == "empty_text":
        empty = [a for a in anchors if not a.text.strip() and a.href.startswith("http")]
        return f"{len(empty)} links with no text" if len(empty) >= 3 else ""
    if kind == "javascript":
        for a in anchors:
            if a.href.lower().startswith(("javascript:", "vbscript:")):
                return a.href[:80]
        return ""
    if kind == "mailto_only":
        hrefs = [a.href.lower() for a in anchors]
        return "every link is a mailto:" if hrefs and all(h.startswith("mailto:") for h in hrefs) \
            and len(hrefs) >= 2 else ""
    raise ValueError(f"unknown html_anchor_text kind {kind!r}")
