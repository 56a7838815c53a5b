"""HTML seen the way a reader sees it, with selectolax (Lexbor): parsed once per message."""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from selectolax.lexbor import LexborCSSSelector, LexborHTMLParser

from mailsphere_cli.message import cached_property
from mailsphere_cli.urls import normalise_url

# url( in any case. Written to start with the literal "(" (the lookbehind then checks for
# "url"): Python's re only skips ahead quickly to a literal or a set of first
# characters, and with re.I it has neither, so it tried the pattern at every position.
_CSS_URL = re.compile(r"""\((?<=[uU][rR][lL]\()\s*['"]?([^'")\s]+)""")
_LINK_ATTRS = (("a", "href"), ("area", "href"), ("img", "src"), ("form", "action"),
               ("iframe", "src"), ("frame", "src"), ("link", "href"), ("script", "src"),
               ("embed", "src"), ("object", "data"), ("input", "src"), ("base", "href"),
               ("meta", "content"))
_LINK_SELECTOR = ", ".join(f"{tag}[{attr}]" for tag, attr in _LINK_ATTRS)
# The same nodes and others from a query of the attributes alone (five attribute tests an
# element instead of thirteen compound selectors: 18 against 30 us for a corpus document);
# a node's own tag then says which attribute it must have.
_LINK_ATTR_SELECTOR = ", ".join(f"[{attr}]" for attr in dict.fromkeys(a for _, a in _LINK_ATTRS))
_ATTR_OF = dict(_LINK_ATTRS)
_META_URL = re.compile(r"url\s*=\s*['\"]?([^'\";\s]+)", re.I)
_MAX_HTML = 2 * 1024 * 1024
_SPACES = re.compile(r"  +")
_NOT_SHOWN = ["script", "style", "head", "noscript", "template"]
_NOT_SHOWN_SELECTOR = ", ".join(_NOT_SHOWN)


def collapse_blanks(text: str) -> str:
    """Every run of [ \\t\\r\\f\\v]+ as one space. The other blanks become spaces
    first (str.replace, only for those present), then runs of two or more spaces
    are collapsed: a regex on the literal "  " skips ahead, where one on the class
    stopped at every space between two words (4x the time on the corpus HTML)."""
    for blank in "\t\r\f\v":
        if blank in text:
            text = text.replace(blank, " ")
    return _SPACES.sub(" ", text) if "  " in text else text


_SELECTORS = threading.local()


class _Parser(LexborHTMLParser):
    """A Lexbor document whose CSS queries (css, css_first, and those of its nodes) go
    through one selector engine per thread, shared by every document. selectolax
    makes a new engine for each document at its first query (a CSS parser and a
    selector matcher: ~100 us to create and free, more than parsing a mail-sized
    document), yet an engine keeps nothing of a document between two queries."""

    @property
    def selector(self) -> LexborCSSSelector:
        engine = getattr(_SELECTORS, "engine", None)
        if engine is None:
            engine = _SELECTORS.engine = LexborCSSSelector()
        return engine


@dataclass(frozen=True, slots=True)
class Anchor:
    href: str
    text: str


class HtmlDocument:
    def __init__(self, source: str):
        self.source = source[:_MAX_HTML]
        self.tree = _Parser(self.source) if self.source else None

    @cached_property
    def text(self) -> str:
        if self.tree is None:
            return ""
        body = self.tree.body
        if body is not None and body.css_first(_NOT_SHOWN_SELECTOR) is None:
            # Nothing to strip inside the body (most mail): its text is the same
            # as that of a stripped copy, without copying the tree.
            return collapse_blanks(body.text(separator=" ")).strip()
        tree = self.tree.clone()  # strip_tags mutates: keep self.tree intact (cheaper than a parse)
        tree.strip_tags(_NOT_SHOWN)
        root = tree.body or tree.root
        if root is None:
            return ""
        return collapse_blanks(root.text(separator=" ")).strip()

    @cached_property
    def anchors(self) -> list[Anchor]:
        if self.tree is None:
            return []
        out = []
        for node in self._links_by_tag["a"][:2000]:  # the nodes of a[href]
            href = (node.attrs.get("href") or "").strip()
            out.append(Anchor(href, node.text(deep=True, separator=" ").strip()))
        return out

    @cached_property
    def _links_by_tag(self) -> dict[str, list]:
        """The nodes of each tag[attr] of _LINK_ATTRS, in document order, from one query
        of the link attributes alone (the anchors are its a[href] group: no second
        query). A node whose tag is none of the link tags, or that lacks its tag's own
        attribute by name (an `a` returned for its src, an SVG `a` with xlink:href, which
        the selector's [href] takes), leaves the answer to the tag[attr] selectors."""
        assert self.tree is not None
        by_tag: dict[str, list] = {tag: [] for tag, _ in _LINK_ATTRS}
        attr_of = _ATTR_OF
        for node in self.tree.css(_LINK_ATTR_SELECTOR):
            tag = node.tag
            attr = attr_of.get(tag)
            if attr is None:  # another element with one of the attributes (source[src]...)
                if node.css_matches(_LINK_SELECTOR):  # it, or a node inside it, is a link
                    return self._links_by_selectors()
                continue
            if attr not in node.attrs:
                return self._links_by_selectors()
            by_tag[tag].append(node)
        return by_tag

    def _links_by_selectors(self) -> dict[str, list]:
        """_links_by_tag from the thirteen tag[attr] selectors in one query."""
        by_tag: dict[str, list] = {tag: [] for tag, _ in _LINK_ATTRS}
        for node in self.tree.css(_LINK_SELECTOR):
            group = by_tag.get(node.tag)
            if group is None:  # a tag name spelt some other way: query tag by tag
                return {tag: self.tree.css(f"{tag}[{attr}]") for tag, attr in _LINK_ATTRS}
            group.append(node)
        return by_tag

    @cached_property
    def urls(self) -> list[str]:
        if self.tree is None:
            return []
        # grouped by tag in _LINK_ATTRS order (each group in document order, as separate
        # queries gave them)
        by_tag = self._links_by_tag
        found: list[str] = []
        for tag, attr in _LINK_ATTRS:
            for node in by_tag[tag][:2000]:
                # attrs reads the one attribute; attributes builds a dict of all
                value = (node.attrs.get(attr) or "").strip()
                if tag == "meta":
                    match = _META_URL.search(value)
                    if not match:
                        continue
                    value = match.group(1)
                url = normalise_url(value)
                if url:
                    found.append(url)
        for match in _CSS_URL.finditer(self.source[:_MAX_HTML]):
            url = normalise_url(match.group(1))
            if url:
                found.append(url)
        return found
