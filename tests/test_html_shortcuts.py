"""The HTML document's link nodes, taken from one query of the link attributes alone
(each node's tag then saying which attribute it must have), are those the thirteen
tag[attr] selectors give, group by group in document order. Compared over generated
tag soup (foreign content, templates, tags in any case, unknown elements and link
tags carrying the other attributes) and the corpus."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailsphere_cli.html import _LINK_ATTRS, _LINK_SELECTOR, HtmlDocument
from mailsphere_cli.message import ParsedMessage
from mailsphere_cli.sources import RawMessage, iter_sources

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"


def _plain_links(doc: HtmlDocument) -> dict[str, list[int]]:
    """The link nodes by tag from the thirteen tag[attr] selectors, as node identities."""
    by_tag: dict[str, list] = {tag: [] for tag, _ in _LINK_ATTRS}
    for node in doc.tree.css(_LINK_SELECTOR):
        group = by_tag.get(node.tag)
        if group is None:
            by_tag = {tag: doc.tree.css(f"{tag}[{attr}]") for tag, attr in _LINK_ATTRS}
            break
        group.append(node)
    return {tag: [node.mem_id for node in nodes] for tag, nodes in by_tag.items()}


def _same(source: str) -> None:
    doc = HtmlDocument(source)
    if doc.tree is not None:
        got = {tag: [node.mem_id for node in nodes] for tag, nodes in doc._links_by_tag.items()}
        assert got == _plain_links(doc), source
        assert doc.urls == HtmlDocument(source).urls


_PIECES = ["<html>", "<head>", "</head>", "<HEAD>", "<head >", "<header>", "<body>", "</body>",
           "<script>var a = 'shown?';</script>", "<SCRIPT>x()</SCRIPT>", "<style>p{}</style>",
           "<StYlE>q</style>", "<noscript>nojs</noscript>", "<template>tpl <a href=t>in</a></template>",
           "<svg>", "</svg>", "<math>", "</math>", "<svg><style>s</style><a href=sv>svg link</a></svg>",
           "<table>", "<td>", "<tr>", "</table>", "<frameset>", "<p>", "</p>", "<div>", "</div>",
           "<a href=x>", "<A HREF='y'>", "</a>", "<a>", "<a href>", "<img src=z>", "<img src>",
           "<image src=i>", "<source src=v>", "<video src=w>", "<xmeta content=c>", "<cursive href=h>",
           "<meta content='0;url=http://q.example/'>", "<form action=f>", "<object data=d>",
           "<embed src=e>", "<base href=b>", "<area href=a>", "<iframe src=s>", "<frame src=f>",
           "<link href=l>", "<input src=n>", "<isindex>", "<!--", "-->", "&lt;script&gt;", "\x00",
           "<a src=as>", "<img href=ih>", "<meta href=mh>", "<form src=fs>",
           "<svg><a xlink:href=xl>x</a></svg>", "<a xlink:href=hx>", "<math><a href=mt>m</a></math>",
           "<scriptx>", "<script", "hello", " world ", "\n", "\t", "caf\xe9", "\u212a"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=25).map("".join))
def test_generated_html_views_equal_the_plain_queries(source):
    _same(source)


def test_unknown_elements_with_link_attributes_and_links_inside_them():
    for source in ("<video src=v.mp4><a href=http://a.example/>a</a></video>",
                   "<xmeta content=x><a href=http://b.example/>b</a></xmeta>",
                   "<a src=http://c.example/>no href</a><img href=http://d.example/>",
                   "<svg><a href=http://e.example/>e</a></svg><A HREF=http://f.example/>f</A>"):
        _same(source)
    doc = HtmlDocument("<a src=http://c.example/>x</a><a href=http://g.example/>g</a>")
    assert doc.urls == ["http://g.example/"]
    assert [a.href for a in doc.anchors] == ["http://g.example/"]


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not present")
def test_corpus_html_views_equal_the_plain_queries():
    seen = 0
    for folder in ("ham", "spam", "phish", "malformed"):
        for item in iter_sources([str(CORPUS / folder)]):
            if isinstance(item, RawMessage):
                html = ParsedMessage(item.data).html
                if html:
                    _same(html)
                    seen += 1
    assert seen > 300
