"""Eval checks on the HTML body, read with the parsed tree (selectolax) so that
they judge what a reader would or would not see. Every walk is capped."""
from __future__ import annotations

import re
from typing import Any

from mailsphere_cli.rules.checks import check, count_upto, per_message

MAX_NODES = 400
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|opacity\s*:\s*0(?:\.0+)?\s*(?:;|$)|"
                           r"font-size\s*:\s*0(?:\.\d+)?\s*(?:px|pt|em|%)?\s*(?:;|$)|"
                           r"(?:max-)?height\s*:\s*[01]px.*overflow\s*:\s*hidden", re.I)
_TINY_STYLE = re.compile(r"font-size\s*:\s*(?:0?\.\d+|[0-2])(?:px|pt)?\s*(?:;|$|\")", re.I)
_COLOR = re.compile(r"(?<![-\w])color\s*:\s*([#\w]+)", re.I)
_BACKGROUND = re.compile(r"background(?:-color)?\s*:\s*([#\w]+)", re.I)
_WHITE = {"#fff", "#ffffff", "white", "#fefefe", "#fdfdfd", "#fcfcfc"}


_REMOTE = re.compile(r"\s*https?://", re.I)
_WORD3 = re.compile(r"[^\W\d_]{3,}")


@per_message
def _images(msg: Any) -> list[Any]:
    return msg.html_doc.tree.css("img")[:MAX_NODES]


def _tree(msg: Any):
    return msg.html_doc.tree if msg.html else None


def _text_of(node: Any) -> str:
    return re.sub(r"\s+", " ", node.text(deep=True, separator=" ")).strip()


@check("html_hidden_text")
def html_hidden_text(msg: Any, ctx: Any, minimum: int = 20) -> str:
    """Text inside elements styled not to show (display:none, zero size or opacity)."""
    tree = _tree(msg)
    if tree is None:
        return ""
    for node in tree.css("[style]")[:MAX_NODES]:
        style = node.attributes.get("style") or ""
        if _HIDDEN_STYLE.search(style):
            text = _text_of(node)
            if len(text) >= minimum:
                return f"hidden ({style.strip()[:40]}): {text[:60]}"
    return ""


@check("html_tiny_text")
def html_tiny_text(msg: Any, ctx: Any, minimum: int = 20) -> str:
    """Text in a font too small to read (font-size 0-2px, or <font size=1> and below
    when it carries a lot of words)."""
    tree = _tree(msg)
    if tree is None:
        return ""
    for node in tree.css("[style]")[:MAX_NODES]:
        if _TINY_STYLE.search(node.attributes.get("style") or ""):
            text = _text_of(node)
            if len(text) >= minimum:
                return f"tiny text: {text[:60]}"
    for node in tree.css("font[size]")[:MAX_NODES]:
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
    if re.fullmatch(r"#[0-9a-f]{3}", colour):
        colour = "#" + "".join(c * 2 for c in colour[1:])
    if colour == "white":
        return "#ffffff"
    if colour == "black":
        return "#000000"
    return colour


@check("html_invisible_colour")
def html_invisible_colour(msg: Any, ctx: Any, minimum: int = 20) -> str:
    """Text coloured like the page (white on white), in a <font color> or a style,
    on an element without its own different background."""
    tree = _tree(msg)
    if tree is None:
        return ""
    page = _norm(_background(msg))
    for node in tree.css("font[color], [style]")[:MAX_NODES]:
        attrs = node.attributes
        colour = attrs.get("color") or ""
        style = attrs.get("style") or ""
        found = _COLOR.search(style)
        if found:
            colour = found.group(1)
        if not colour:
            continue
        back = _BACKGROUND.search(style)
        background = _norm(back.group(1)) if back else _norm(attrs.get("bgcolor") or page)
        if _norm(colour) == background:
            text = _text_of(node)
            if len(text) >= minimum:
                return f"text in {colour} on {background}: {text[:60]}"
    return ""


@check("html_images")
def html_images(msg: Any, ctx: Any, kind: str, minimum: int = 1) -> str:
    tree = _tree(msg)
    if tree is None:
        return ""
    images = _images(msg)
    if kind == "remote_only_little_text":
        remote = [i for i in images if _REMOTE.match(i.attributes.get("src") or "")]
        if not remote or len(remote) != len(images) or (msg.text and not msg.text.isspace()):
            return ""
        words = count_upto(_WORD3, msg.html_text[:5000], 30)
        return f"{len(remote)} remote images and {words} words" if words < 30 else ""
    if kind == "many":
        return f"{len(images)} images" if len(images) >= minimum else ""
    if kind == "no_alt_linked":
        bare = [i for i in images if not (i.attributes.get("alt") or "").strip()
                and i.parent is not None and i.parent.tag == "a"]
        return f"{len(bare)} linked images without alt text" if len(bare) >= minimum else ""
    if kind == "tracking_pixel":
        for image in images:
            w, h = image.attributes.get("width") or "", image.attributes.get("height") or ""
            if w.strip() in ("0", "1") and h.strip() in ("0", "1"):
                return f"1x1 image {(image.attributes.get('src') or '')[:80]}"
        return ""
    raise ValueError(f"unknown html_images kind {kind!r}")


@check("html_comment_stuffing")
def html_comment_stuffing(msg: Any, ctx: Any, minimum: int) -> str:
    """Comments splitting words (vi<!-- x -->agra) or many comments in little text."""
    html = msg.html[:200_000]
    if "<!--" not in html:
        return ""
    inside = re.findall(r"[A-Za-z]<!--[^>]{0,200}-->[A-Za-z]", html)
    if len(inside) >= minimum:
        return f"{len(inside)} comments inside words: {inside[0][:40]}"
    return ""


@check("html_form")
def html_form(msg: Any, ctx: Any, kind: str) -> str:
    tree = _tree(msg)
    if tree is None:
        return ""
    if kind == "password":
        found = tree.css("input[type=password], input[type=PASSWORD], input[type=Password]")
        return f"{len(found)} password fields" if found else ""
    if kind == "external_action":
        for form in tree.css("form")[:20]:
            action = form.attributes.get("action") or ""
            if re.match(r"\s*https?://", action, re.I):
                return f"form posts to {action[:100]}"
        return ""
    if kind == "sensitive_inputs":
        names = " ".join((i.attributes.get("name") or "") + " " + (i.attributes.get("id") or "")
                         for i in tree.css("input")[:MAX_NODES]).lower()
        found = re.findall(r"pin|cvv|cvv2|ssn|social|card|expir|passw|account|routing|mother", names)
        return f"inputs ask for {', '.join(sorted(set(found))[:4])}" if len(set(found)) >= 2 else ""
    raise ValueError(f"unknown html_form kind {kind!r}")


@check("html_text_ratio_low")
def html_text_ratio_low(msg: Any, ctx: Any, maximum_words: int) -> str:
    """HTML with links but almost no words of its own."""
    if not msg.html or (msg.text and not msg.text.isspace()):  # = msg.text.strip(), no copy
        return ""
    anchors = len(msg.html_doc.anchors)
    if not anchors:
        return ""
    words = count_upto(_WORD3, msg.html_text[:5000], maximum_words + 1)
    return f"{words} words, {anchors} links" if words <= maximum_words else ""


@check("html_anchor_text")
def html_anchor_text(msg: Any, ctx: Any, kind: str) -> str:
    if not msg.html:
        return ""
    anchors = msg.html_doc.anchors[:MAX_NODES]
    if kind == "click_here":
        for a in anchors:
            if re.fullmatch(r"\s*(?:click|tap|press)\s+here[.!]*\s*|\s*here\s*", a.text, re.I):
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
