"""One parse per message, lenient decoding, limits that become hits instead of crashes."""
from __future__ import annotations

import base64
import re
import time

import pytest

from mailsphere_cli.message import Limits, ParsedMessage
from mailsphere_cli.sources import iter_sources


def test_leading_from_line_crlf_and_encoded_words():
    raw = (b"From someone Thu Aug 22 12:36:23 2002\r\n"
           b"From: =?iso-8859-1?q?J=F6rg_M=FCller?= <joerg@example.de>\r\n"
           b"To: a@example.com\r\nSubject: =?utf-8?b?8J+SsCBNb25leQ==?= now\r\n\r\nHallo\r\n")
    msg = ParsedMessage(raw)
    assert msg.from_name == "Jörg Müller" and msg.from_addr == "joerg@example.de"
    assert msg.subject == "💰 Money now"
    assert msg.text.strip() == "Hallo"


def test_broken_encoded_word_unknown_charset_and_8bit_headers():
    raw = ("Subject: =?x-unknown?q?caf=E9?= =?utf-8?b?!!!notbase64?=\n"
           "From: Zoë <zoe@example.org>\n"
           "Content-Type: text/plain; charset=x-made-up\n\nna\xefve text\n").encode("latin-1")
    msg = ParsedMessage(raw)
    assert "caf" in msg.subject
    assert msg.from_addr == "zoe@example.org"
    assert "na" in msg.text and "ve text" in msg.text


def test_bad_base64_and_quoted_printable_are_decoded_leniently():
    raw = (b"Content-Type: multipart/mixed; boundary=B\n\n--B\n"
           b"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
           + base64.b64encode(b"hello world, this is fine") + b"!!*&\n===\n--B\n"
           b"Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
           b"caf=C3=A9 =ZZ broken=\n soft\n--B--\n")
    msg = ParsedMessage(raw)
    assert "hello world, this is fine" in msg.text
    assert "café" in msg.text and "=ZZ" in msg.text


def test_missing_final_boundary_still_yields_the_parts():
    raw = (b"Content-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/plain\n\n"
           b"visible text\n--XYZ\nContent-Type: application/octet-stream\n"
           b"Content-Disposition: attachment; filename=\"a.bin\"\n\nDATA\n")
    msg = ParsedMessage(raw)
    assert "visible text" in msg.text
    assert [p.filenames for p in msg.attachments] == [("a.bin",)]


def test_html_is_rendered_and_urls_normalised():
    raw = (b"Content-Type: text/html\n\n<html><head><style>p{}</style><script>var x=1</script>"
           b"</head><body><p>Pay <b>now</b></p><a href='HTTP://0x7f.1/login'>here</a>"
           b"<div style=\"background:url('http://cdn.example.net/bg.png')\">x</div></body></html>")
    msg = ParsedMessage(raw)
    assert "Pay now" in msg.html_text and "var x" not in msg.html_text
    assert "http://127.0.0.1/login" in msg.urls
    assert "http://cdn.example.net/bg.png" in msg.urls


def nested(depth: int) -> bytes:
    head = b""
    for i in range(depth):
        head += b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i)
    return b"Subject: deep\n" + head + b"Content-Type: text/plain\n\ninner\n"


def test_mime_depth_limit_is_a_hit():
    msg = ParsedMessage(nested(40), Limits(max_depth=20))
    msg.parts
    assert any(h.rule == "MIME_TOO_DEEP" for h in msg.limit_hits)


def test_part_count_header_count_and_header_length_limits():
    many = b"Content-Type: multipart/mixed; boundary=Q\n\n" + b"".join(
        b"--Q\nContent-Type: text/plain\n\npart %d\n" % i for i in range(50)) + b"--Q--\n"
    msg = ParsedMessage(many, Limits(max_parts=10))
    msg.parts
    assert any(h.rule == "MIME_TOO_MANY_PARTS" for h in msg.limit_hits)
    headers = b"".join(b"X-Junk-%d: v\n" % i for i in range(30)) + b"Subject: " + b"a" * 5000
    msg = ParsedMessage(headers + b"\n\nbody\n", Limits(max_headers=20, max_header_length=1000))
    rules = {h.rule for h in msg.limit_hits}
    assert "HEADERS_TOO_MANY" in rules
    msg = ParsedMessage(b"Subject: " + b"a" * 5000 + b"\n\nbody\n", Limits(max_header_length=1000))
    assert {h.rule for h in msg.limit_hits} == {"HEADER_TOO_LONG"}
    assert len(msg.subject) == 1000


def test_oversized_message_is_cut_and_flagged():
    raw = b"Subject: big\n\n" + b"y" * 5000
    msg = ParsedMessage(raw, Limits(max_size=1000))
    assert len(msg.raw) == 1000
    assert [h.rule for h in msg.limit_hits] == ["MSG_TOO_LARGE"]


def test_every_malformed_corpus_message_gets_a_verdict(corpus):
    """Robustness over hostile mail: a verdict or a recorded error each, quickly."""
    from mailsphere_cli.config import Config
    from mailsphere_cli.workers import Settings, build_pipeline, scan_one

    pipeline = build_pipeline(Settings(config=Config(), offline=True))
    count = 0
    for item in iter_sources([str(corpus / "malformed")]):
        if not hasattr(item, "data"):
            continue
        began = time.perf_counter()
        verdict = scan_one(pipeline, item, timeout=10)
        assert verdict.action.value in ("deliver", "spam", "malicious", "reject", "error")
        if verdict.action.value == "error":
            assert verdict.errors
        assert time.perf_counter() - began < 10, item.origin
        count += 1
    assert count > 350


def test_base64_with_padding_in_the_middle_decodes_every_segment():
    """Padding mid-stream must not make the decoder stop early and hide the rest."""
    raw = (b"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
           + base64.b64encode(b"first half ") + b"\n" + base64.b64encode(b"second half, hidden?"))
    assert ParsedMessage(raw).text == "first half second half, hidden?"


# The plain forms of the link patterns that urls.py and html.py write in a faster shape.
_PLAIN_URL_IN_TEXT = re.compile(
    r"""(?:(?:https?|ftp)://|www\d{0,3}\.)[^\s<>"'`\)\]\}]{2,2000}""", re.I)
_PLAIN_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)""", re.I)
_LINK_TEXTS = [
    "see http://a.example/x, HTTPS://B.example/y) and hTtP\u017f://c.example/\u017f",
    "ftp://files.example/a.zip FTP://X.example wwww.d.example WwW2.e.example/p?q=1",
    "xhttp://f.example www.\nwww.g.example/\u00e9 http://\u212a.example www\u0663.h.example",
    "style=\"background:URL( 'http://i.example/a.png' )\" Url(j.png) uRl(\"k.png\") url()",
    "url(url(http://l.example/url(m)) (url(n.png) surl(o.png)",
]


@pytest.mark.parametrize("text", _LINK_TEXTS)
def test_fast_link_patterns_find_what_the_plain_ones_find(text):
    from mailsphere_cli import html as html_module
    from mailsphere_cli import urls as urls_module
    assert [m.group(0) for m in urls_module._URL_IN_TEXT.finditer(text)] == \
        [m.group(0) for m in _PLAIN_URL_IN_TEXT.finditer(text)]
    assert html_module._CSS_URL.findall(text) == _PLAIN_CSS_URL.findall(text)


def test_html_links_come_grouped_by_tag_in_document_order():
    from selectolax.lexbor import LexborHTMLParser
    from mailsphere_cli.html import _LINK_ATTRS, HtmlDocument
    from mailsphere_cli.urls import normalise_url
    source = ("<html><head><base href='http://base.example/'><link href='http://css.example/a.css'>"
              "<meta http-equiv=refresh content='0; URL=http://meta.example/'></head><body>"
              "<img src='http://img.example/1.png'><a href='http://a.example/1'>one</a>"
              "<svg><a href='http://svg.example/'>in svg</a><image href='http://x.example/'/></svg>"
              "<form action='http://form.example/post'><input src='http://input.example/'></form>"
              "<a href='http://a.example/2'>two</a><template><a href='http://tpl.example/'>t</a>"
              "</template><iframe src='http://frame.example/'></iframe><AREA HREF='http://area.example/'>"
              "<div style='background: url(http://style.example/bg.png)'></div></body></html>")
    doc = HtmlDocument(source)
    tree = LexborHTMLParser(source)
    expected = []
    for tag, attr in _LINK_ATTRS:  # one query per tag, as the plain way does it
        for node in tree.css(f"{tag}[{attr}]"):
            value = (node.attributes.get(attr) or "").strip()
            if tag == "meta":
                value = re.search(r"url\s*=\s*['\"]?([^'\";\s]+)", value, re.I).group(1)
            expected.append(normalise_url(value))
    expected += [normalise_url(u) for u in _PLAIN_CSS_URL.findall(source)]
    assert doc.urls == [u for u in expected if u]
    assert doc.urls.index("http://a.example/1") < doc.urls.index("http://a.example/2")
    assert doc.urls.index("http://a.example/2") < doc.urls.index("http://area.example/")
    # rendering the text works on a copy: the tree the checks read keeps its head and scripts
    assert "one" in doc.text and "two" in doc.text
    assert doc.tree.css_first("meta") is not None and doc.tree.css_first("base") is not None


@pytest.mark.parametrize("url, expected", [
    ("http://3232235777/a", "http://192.168.1.1/a"),
    ("HTTP://0xC0A80101", "http://192.168.1.1/"),
    ("http://0300.0250.1.1/", "http://192.168.1.1/"),
    ("http://0x7f.1/", "http://127.0.0.1/"),
    ("http://192.168.257/", "http://192.168.1.1/"),
    ("http://256.1.1.1/", "http://256.1.1.1/"),
    ("http://deadbeef/", "http://deadbeef/"),
    ("http://0xdeadbeef/", "http://222.173.190.239/"),
    ("http://www.example.com:8080/x?y=1", "http://www.example.com:8080/x?y=1"),
    ("http://cafe.example/", "http://cafe.example/"),
    ("http://0x1g.1/", "http://0x1g.1/"),
])
def test_numeric_hosts_become_dotted_quads(url, expected):
    from mailsphere_cli.urls import normalise_url
    assert normalise_url(url) == expected


def test_collapse_blanks_equals_the_plain_substitution():
    import random
    from mailsphere_cli.html import collapse_blanks
    plain = re.compile(r"[ \t\r\f\v]+")
    rng = random.Random(5)
    alphabet = " \t\r\f\v\nab\u00a0\u2003\u3000x"
    texts = ["", " ", "a  b", "\t", "a \t\r\f\v b", "  lead and trail  ", "no blanks"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) for _ in range(20000)]
    for text in texts:
        assert collapse_blanks(text) == plain.sub(" ", text), repr(text)


def test_link_attributes_read_alone_equal_the_attribute_dict():
    from selectolax.lexbor import LexborHTMLParser
    from mailsphere_cli.html import HtmlDocument
    from mailsphere_cli.urls import normalise_url
    source = ("<a href>empty</a><a title=t HREF=' http://a.example/1 ' class=c>one</a>"
              "<a href='http://b.example/' href='http://dup.example/'>dup</a>"
              "<img alt=x src='//img.example/p.png' width=1><form method=post action=''>")
    doc = HtmlDocument(source)
    tree = LexborHTMLParser(source)
    assert [(a.href, a.text) for a in doc.anchors] == \
        [((n.attributes.get("href") or "").strip(), n.text(deep=True, separator=" ").strip())
         for n in tree.css("a[href]")]
    assert doc.urls == ["http://a.example/1", "http://b.example/", "http://img.example/p.png"]
    assert normalise_url("//img.example/p.png") == "http://img.example/p.png"


@pytest.mark.parametrize("source", [
    "<p>Hello <b>world</b></p>",
    "<html><head><title>T</title><style>p{}</style></head><body><p>a</p>\t<p>b</p></body></html>",
    "<body><p>a</p><script>var x = 1;</script><noscript>enable js</noscript></body>",
    "<body><svg><style>.c{}</style><text>in svg</text></svg> after</body>",
    "<body><template><p>hidden</p></template>shown</body>",
    "</html><p>after the end</p><head><title>late head</title></head> tail",
    "text only, no tags at all",
])
def test_html_text_without_a_copy_equals_the_stripped_copy(source):
    from selectolax.lexbor import LexborHTMLParser
    from mailsphere_cli.html import _NOT_SHOWN, HtmlDocument, collapse_blanks
    reference = LexborHTMLParser(source)
    reference.strip_tags(_NOT_SHOWN)
    root = reference.body or reference.root
    assert HtmlDocument(source).text == collapse_blanks(root.text(separator=" ")).strip()


def test_link_starts_found_by_find_give_what_finditer_gives():
    import random
    from mailsphere_cli import urls as urls_module
    pieces = ["http", "https", "HTTP", "ftp", "FtP", "://", "www", "WWW", "wWw", "w", "h", ".",
              "1", "23", " ", "\n", "x", "\u00e9", "\u017f", "s://", ":", "/", "<", ")", "a"]
    rng = random.Random(9)
    texts = _LINK_TEXTS + ["wwww" * 3000, "://" * 3000, "see www.a.example and http://b.example/x"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(20000)]
    for text in texts:
        assert [m.span() for m in urls_module._links(text)] == \
            [m.span() for m in urls_module._URL_IN_TEXT.finditer(text)], repr(text[:80])
    assert urls_module._link_starts("wwww" * 3000) is None  # too many: the regex finds them


def test_documents_share_one_css_engine_and_answer_as_their_own_would():
    from selectolax.lexbor import LexborHTMLParser
    from mailsphere_cli.html import HtmlDocument
    sources = [
        "<html><head><style>p{}</style></head><body><p class=x>a <a href='http://a.example/'>one</a>"
        "</p><img src=i.png><font size=1 color=white>tiny</font><form action='http://f.example/'>"
        "<input type=password name=pw><input name=user></form></body></html>",
        "<body><div style='color:red'><a href=#>two</a><a>no href</a></div><script>x</script></body>",
        "<p>no links, <b>bold</b></p>",
        "<svg><a href='http://svg.example/'>in svg</a></svg><template><img src=t.png></template>",
    ]
    queries = ["a[href]", "img", "[style]", "font[size]", "font[color], [style]", "form", "input",
               "input[type=password], input[type=PASSWORD], input[type=Password]", "p", "*",
               "script, style, head, noscript, template"]
    docs = [HtmlDocument(source) for source in sources]
    plain = [LexborHTMLParser(source) for source in sources]
    # one engine for every document (selectolax makes one per document on its first query)
    assert len({id(doc.tree.selector) for doc in docs}) == 1
    for query in queries:  # queries alternate between documents: nothing carries over
        for doc, tree in zip(docs, plain):
            got = doc.tree.css(query)
            assert [n.html for n in got] == [n.html for n in tree.css(query)], query
            assert all(n.parser is doc.tree for n in got)
            first = doc.tree.body.css_first(query) if doc.tree.body else None
            want = tree.body.css_first(query) if tree.body else None
            assert (first.html if first else None) == (want.html if want else None), query


def _normalise_reference(url: str) -> str:
    """normalise_url the general way only (urlsplit for every URL)."""
    from mailsphere_cli.urls import _normalise_general, completed_url
    url = completed_url(url)
    return _normalise_general(url) if url else ""


def test_plain_urls_normalise_as_urlsplit_would():
    import random
    from mailsphere_cli.urls import _PLAIN_URL, normalise_url
    pieces = ["http://", "HTTPS://", "ftp://", "hTtP://", "httpſ://", "www.", "WWW.", "//", "a", "B",
              "1", "0x", "07", ".", "..", "-", "_", "~", ":", "8080", "/", "?", "#", "@", "[", "]",
              "%41", "%2e", " ", "\t", "\n", "\x01", "\x7f", "é", "ſ", "K", "&", "=", "\\", "'", "<",
              "mailto:", "javascript:"]
    rng = random.Random(11)
    urls = ["http://Example.COM", "https://a.example:8443/x?y=1#z", "http://a.example?q#f",
            "http://a.example#f?q", "http://./", "http:///p", "HTTP://0xC0A80101/a", "www.a.example",
            "//cdn.example/x.png", "http://a.example:/p", "http://a.example:80:90/", "http://.a.b./",
            "ftp://files.example/%20x", "http://a_b~c.example/\\x", "http://u@a.example/",
            "http://[::1]/", "http://a.example/p?" + "q" * 3000]
    urls += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 10))) for _ in range(30000)]
    host_chars = "abcXYZ019.-_~%@[]:é"
    rest_chars = "".join(map(chr, range(0x21, 0x7f))) + " \té"
    for _ in range(20000):  # the fast path's shape and its near misses
        urls.append(rng.choice(["http://", "HTTPS://", "ftp://", "www.", "//", "fTp://", "http:/"])
                    + "".join(rng.choice(host_chars) for _ in range(rng.randint(0, 12)))
                    + rng.choice(["", ":", ":80", ":8a"])
                    + rng.choice(["", "/", "?", "#", "//"])
                    + "".join(rng.choice(rest_chars) for _ in range(rng.randint(0, 12))))
    fast = 0
    for url in urls:
        assert normalise_url.__wrapped__(url) == _normalise_reference(url), repr(url)
        fast += _PLAIN_URL.fullmatch(url.strip()) is not None
    assert fast > 2000  # the fast path was taken, and agreed


@pytest.mark.parametrize("source", [
    "<a href>empty</a><A HREF=' http://a.example/1 '>one</A><a>no href</a><area href=x>",
    "<svg><a href='http://svg.example/'>s</a><a xlink:href='http://xl.example/'>xl</a></svg>"
    "<math><a href='m'>m</a></math><template><a href='t'>t</a></template><a href='z'>z</a>",
    "<img src=a.png><form action=f><a href='http://b.example/'>b <b>bold</b></a></form>",
    "<p>no links</p>",
])
def test_anchors_from_the_link_query_equal_their_own_query(source):
    from selectolax.lexbor import LexborHTMLParser
    from mailsphere_cli.html import HtmlDocument
    doc = HtmlDocument(source)
    doc.urls  # the link query first, as the rule stage runs it
    assert [(a.href, a.text) for a in doc.anchors] == \
        [((n.attrs.get("href") or "").strip(), n.text(deep=True, separator=" ").strip())
         for n in LexborHTMLParser(source).css("a[href]")]
    assert [(a.href, a.text) for a in HtmlDocument(source).anchors] == \
        [(a.href, a.text) for a in doc.anchors]
