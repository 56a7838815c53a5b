"""Eval checks over the message's links, and the reference data they share
(brands, free-mail providers, shorteners, suspicious TLDs under rules/data/).

Links come from `msg.urls` (normalised: IDNA hosts, dotted IPs) and, for what a
reader is shown, from the HTML anchors. Every loop is bounded by the caps the
parser already puts on those lists.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mailsphere_cli import artefacts
from mailsphere_cli.message import imported
from mailsphere_cli.rules.checks import check, per_message
from mailsphere_cli.rules.checks.features import MAX_URLS, hosts, links, own_domains, path_query
from mailsphere_cli.urls import is_ip, normalise_url, url_host, url_host_unicode

_SPACES = re.compile(r"\s+")

# -- reference data ---------------------------------------------------------------


def data_dir() -> Path:
    from mailsphere_cli.rules.loader import default_rules_dir
    return default_rules_dir() / "data"


@lru_cache(maxsize=None)
def word_list(name: str) -> frozenset[str]:
    """A one-entry-a-line data file, comments and blanks dropped, lowercased."""
    path = data_dir() / name
    if not path.is_file():
        return frozenset()
    lines = (line.split("#", 1)[0].strip().lower() for line in path.read_text("utf-8").splitlines())
    return frozenset(line for line in lines if line)


@dataclass(frozen=True)
class Brand:
    name: str
    words: re.Pattern[str] | None
    domains: frozenset[str]
    labels: frozenset[str]  # the distinctive label of each domain: "paypal", "wellsfargo"


@lru_cache(maxsize=1)
def brands() -> tuple[Brand, ...]:
    path = data_dir() / "brands.toml"
    if not path.is_file():
        return ()
    data = artefacts.parsed_toml(path)
    out = []
    for name, entry in sorted((data.get("brand") or {}).items()):
        domains = frozenset(d.lower() for d in entry.get("domains", []))
        labels = frozenset(d.split(".")[0] for d in domains if len(d.split(".")[0]) >= 4)
        words = entry.get("words", [])
        pattern = None
        if words and not entry.get("ambiguous"):
            pattern = re.compile(r"(?<![\w.@-])(?:%s)(?![\w-])" % "|".join(
                re.escape(w).replace(r"\ ", r"\s+") for w in words), re.I)
        out.append(Brand(name, pattern, domains, labels))
    return tuple(out)


_IP_SHAPED = re.compile(r"[\d.]+|[0-9a-f:.]*:[0-9a-f:.]*")


def looks_ip(host: str) -> bool:
    """is_ip, with a cheap shape test first: most hosts are names (a last letter past
    "f", as in a top-level domain, ends no address shape)."""
    if host and host[-1] > "f" and host[-1] <= "z":
        return False
    return bool(_IP_SHAPED.fullmatch(host)) and is_ip(host)


@lru_cache(maxsize=8192)
def reg_domain(host: str) -> str:
    """The registrable domain of a host (an IP stays itself).

    A name of one or two labels is its own: the public suffix list makes the last
    label public or, with a rule for the whole name, the name itself, and in either
    case org_domain answers the name (lowercased). A longer ASCII name whose last two
    labels end no rule of the list, under a top-level domain without a wildcard or
    exception rule, has those two labels as its registrable domain (_suffix_tails);
    only the others are looked up, which cost 4-7 us each (publicsuffixlist tries
    every suffix, longest first, three rule shapes each)."""
    host = host.lower().strip(".[]")
    if not host or looks_ip(host):
        return host
    if host.count(".") < 2:
        return host
    if host.isascii() and ".." not in host:
        known = _suffix_tails()
        if known is not None:
            cut = host.rfind(".")
            last_two = host[host.rfind(".", 0, cut) + 1:]
            if last_two not in known[0] and host[cut + 1:] not in known[1]:
                return last_two
    return _org_domain(host)


def _org_domain(host: str) -> str:
    return imported("mailsphere_cli.perimeter.dmarc").org_domain(host)


@lru_cache(maxsize=1)
def _suffix_tails() -> tuple[frozenset[str], frozenset[str]] | None:
    """(the last two labels of every rule of two labels or more in the public suffix list
    org_domain reads, the names of one label with a wildcard or exception rule).

    For a name of three labels or more, publicsuffixlist's longest-first walk can stop
    above the last label only at a rule ending in the name's last two labels; when there
    is none and its last label has no wildcard ("*.ck") or exception rule, the public
    suffix is the last label (listed or, unknown, accepted as public) and the registrable
    domain the last two. Read from the list's rule set (kept in the artefact cache: 6 ms
    to build); None, and every name goes to the list, when this version of the package
    keeps its rules elsewhere or accepts no unknown top-level domain."""
    dmarc = imported("mailsphere_cli.perimeter.dmarc")
    psl = dmarc._psl()
    rules = getattr(psl, "_publicsuffix", None)
    if not isinstance(rules, frozenset) or not rules or getattr(psl, "accept_unknown", None) is not True:
        return None
    try:
        import publicsuffixlist
        info = os.stat(publicsuffixlist.PSLFILE)  # the list's file as installed: its stamp,
        parts = [f"{publicsuffixlist.PSLFILE}\0{info.st_size}\0{info.st_mtime_ns}".encode(
            "utf-8", "surrogateescape")] + artefacts.stamps(publicsuffixlist) + \
            artefacts.source_of(sys.modules[__name__])  # (not a hash of its 250 KB again)
    except (OSError, AttributeError, TypeError):
        return _build_suffix_tails(rules)
    return artefacts.cached("psl-tails", parts, lambda: _build_suffix_tails(rules),
                            check=lambda value: isinstance(value, tuple) and len(value) == 2)


def _build_suffix_tails(rules: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
    tails = set()
    odd = set()
    for rule in rules:
        name = rule[1:] if rule.startswith("!") else rule[2:] if rule.startswith("*.") else rule
        cut = name.rfind(".")
        if cut < 0:
            if name != rule:
                odd.add(name)
            continue
        tails.add(name[name.rfind(".", 0, cut) + 1:])
    return frozenset(tails), frozenset(odd)


@lru_cache(maxsize=1)
def _domain_owners() -> dict[str, Brand]:
    return {domain: brand for brand in brands() for domain in brand.domains}


@lru_cache(maxsize=8192)
def brand_owning(host: str) -> Brand | None:
    owners = _domain_owners()
    return owners.get(reg_domain(host)) or owners.get(host)


@lru_cache(maxsize=1)
def _brand_words() -> tuple[re.Pattern[str] | None, dict[str, Brand]]:
    """One pattern for every brand word, and the brand each word belongs to."""
    owner: dict[str, Brand] = {}
    words: list[str] = []
    for brand in brands():
        if brand.words is None:
            continue
        for word in brand.words.pattern.split("(?:", 1)[1].rsplit(")(?!", 1)[0].split("|"):
            words.append(word)
            owner[re.sub(r"\\s\+|\\ ", " ", word).replace("\\", "").lower()] = brand
    if not words:
        return None, owner
    words.sort(key=len, reverse=True)
    # RE2: one linear pass over long bodies whatever the number of brands.
    import re2
    # Compiled from bytes and run over UTF-8 bytes: the wrapper's str interface
    # maps every match offset back to characters, which costs more than the scan.
    return re2.compile((r"(?i)\b(?:%s)\b" % "|".join(words)).encode("utf-8")), owner


SHORT_TEXT = 300


def brands_named(text: str, limit: int = 20_000) -> list[Brand]:
    """Brands whose name appears in the text (non-ambiguous brands only), one pass.

    Short texts (display names, subjects) recur across messages and are kept in
    a large cache; bodies only for the message at hand. Read-only result."""
    if len(text) <= SHORT_TEXT:
        return _brands_named_short(text, limit)
    return _brands_named_long(text, limit)


@lru_cache(maxsize=4096)
def _brands_named_short(text: str, limit: int) -> list[Brand]:
    return _find_brands(text, limit)


@lru_cache(maxsize=8)
def _brands_named_long(text: str, limit: int) -> list[Brand]:
    return _find_brands(text, limit)


_TOKEN = re.compile(r"[a-z0-9_]+")


@lru_cache(maxsize=1)
def _brand_first_tokens() -> frozenset[str] | None:
    """The first run of word characters of every brand word, lowercased: a match of
    the brand pattern in ASCII text starts at a whole word of the text that equals
    one of these (the pattern's \\b needs a non-word character on its left, and after
    that run comes a non-word character of the brand word or the closing \\b).
    None when a brand word does not start with an ASCII word character."""
    _, owner = _brand_words()
    firsts = set()
    for word in owner:
        first = _TOKEN.match(word)
        if first is None or not word.isascii():
            return None
        firsts.add(first.group(0))
    return frozenset(firsts)


def _find_brands(text: str, limit: int, most: int = 5) -> list[Brand]:
    """The first `most` brands the text names, in the order it first names them."""
    pattern, owner = _brand_words()
    if pattern is None:
        return []
    text = text[:limit]
    if len(text) <= SHORT_TEXT and text.isascii():
        # Short texts (names, subjects) seldom name a brand: their words decide that
        # at a fraction of the cost of calling the RE2 wrapper.
        firsts = _brand_first_tokens()
        if firsts is not None and firsts.isdisjoint(_TOKEN.findall(text.lower())):
            return []
    found: dict[str, Brand] = {}
    sample = text.encode("utf-8", "replace")
    for match in pattern.finditer(sample):
        brand = owner.get(_SPACES.sub(" ", match.group(0).decode("utf-8", "replace")).lower())
        if brand is not None:
            found.setdefault(brand.name, brand)
            if len(found) >= most:
                break
    return list(found.values())


def first_brand_named(text: str, limit: int = 20_000) -> Brand | None:
    """brands_named(text, limit)[0] (None when it names none), without reading on for
    more brands: a body's first brand decides url_login_non_brand, and reading on to
    five brands (every mention of each) cost 75-93 us a body it read against 13-18."""
    found = _find_brands(text, limit, 1)
    return found[0] if found else None


@lru_cache(maxsize=8192)
def is_freemail(domain: str) -> bool:
    domain = domain.lower()
    return domain in word_list("freemail.txt") or reg_domain(domain) in word_list("freemail.txt")


@lru_cache(maxsize=8192)
def suspicious_tld(host: str) -> str:
    tlds = word_list("tlds.txt")
    labels = host.lower().rstrip(".").split(".")
    for size in (2, 1):
        if len(labels) > size and ".".join(labels[-size:]) in tlds:
            return ".".join(labels[-size:])
    return ""


_CONFUSABLE = str.maketrans({"0": "o", "1": "l", "3": "e", "5": "s", "4": "a", "7": "t",
                             "8": "b", "@": "a", "$": "s", "!": "i", "|": "l"})


# _CONFUSABLE, and "-" and "_" deleted in the same pass (nothing maps to or from them)
_CONFUSABLE_UNDASHED = {**_CONFUSABLE, ord("-"): None, ord("_"): None}


def _skeleton(label: str) -> str:
    label = label.lower().translate(_CONFUSABLE_UNDASHED)
    return label.replace("rn", "m").replace("vv", "w").replace("cl", "d").replace("i", "l")


def _one_edit(a: str, b: str) -> bool:
    """True when a and b differ by exactly one insert, delete, swap or substitution."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] \
            and a[diff[1]] == b[diff[0]]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    for i in range(len(long_)):
        if long_[:i] + long_[i + 1:] == short:
            return True
    return False


_DRESSING = ("security", "secure", "login", "account", "verify", "update", "support", "service",
             "online", "web")


@dataclass(frozen=True)
class _LabelIndex:
    """Brand labels indexed for one-edit, confusable and dressed-up look-alikes."""

    exact: dict[str, str]
    # one-edit candidates: the labels of five characters or more, in the order given,
    # as (label, owner), and where each is filed (see _near_keys)
    near_labels: list[tuple[str, str]]
    near: dict[tuple[int, bool, str], list[int]]  # key -> positions in near_labels
    near_lengths: frozenset[int]
    skeletons: dict[str, tuple[str, str]]
    dressed: re.Pattern[str] | None


# Brand labels that are also everyday words: a domain built on them is no sign.
_EVERYDAY = frozenset({"office", "outlook", "windows", "azure", "apple", "chase", "steam",
                       "visa", "regions", "meta", "live", "youtube"})


def _near_keys(real: str) -> tuple[tuple[int, bool, str], tuple[int, bool, str]]:
    """Where a label of length n is filed for one-edit look-ups: under its first n // 2
    characters and under its last n - n // 2 - 1. One edit (a letter inserted, deleted,
    replaced, or two neighbours swapped) at or after position n // 2 leaves the first
    part in place; one before it leaves the last part in place, at the end. So every
    label one edit away from `real` starts with its first part or ends with its last."""
    half = len(real) // 2
    return (len(real), True, real[:half]), (len(real), False, real[half + 1:])


def _index(labels: list[tuple[str, str]]) -> _LabelIndex:
    exact: dict[str, str] = {}
    near_labels: list[tuple[str, str]] = []
    near: dict[tuple[int, bool, str], list[int]] = {}
    skeletons: dict[str, tuple[str, str]] = {}
    long_labels = []
    for real, owner in labels:
        if real in _EVERYDAY:
            continue
        exact.setdefault(real, owner)
        if len(real) >= 4:
            long_labels.append(real)
        if len(real) < 5:
            continue
        for key in _near_keys(real):
            near.setdefault(key, []).append(len(near_labels))
        near_labels.append((real, owner))
        skeletons.setdefault(_skeleton(real), (real, owner))
    dressed = None
    if long_labels:
        names = "|".join(sorted(map(re.escape, long_labels), key=len, reverse=True))
        words = "|".join(_DRESSING)
        dressed = re.compile(rf"(?:^|[-\d]|{words})({names})(?:$|[-\d]|{words})")
    return _LabelIndex(exact, near_labels, near, frozenset(len(r) for r, _ in near_labels),
                       skeletons, dressed)


def _one_edit_from(label: str, index: _LabelIndex) -> tuple[str, str] | None:
    """The first indexed (label, owner) one edit away from `label`, or None: a few
    dictionary look-ups (the labels of length len(label) - 1 to + 1 filed under the
    start or the end of `label`, _near_keys) instead of a scan of every label."""
    size = len(label)
    found: list[int] = []
    for length in (size - 1, size, size + 1):
        if length not in index.near_lengths:
            continue
        half = length // 2
        tail = length - half - 1
        for key in ((length, True, label[:half]), (length, False, label[size - tail:])):
            found.extend(index.near.get(key, ()))
    if not found:
        return None
    for position in sorted(set(found)) if len(found) > 1 else found:
        real, owner = index.near_labels[position]
        if _one_edit(label, real):
            return real, owner
    return None


@lru_cache(maxsize=1)
def _brand_index() -> _LabelIndex:
    return _index([(label, b.name) for b in brands() for label in sorted(b.labels)])


@lru_cache(maxsize=64)
def _own_index(own: tuple[str, ...]) -> _LabelIndex:
    return _index([(d.split(".")[0], "own") for d in own if len(d.split(".")[0]) >= 4])


def _match_label(label: str, domain: str, index: _LabelIndex) -> str:
    if label in index.exact:
        # The brand's own name under a generic suffix (paypal.info); country
        # suffixes are left alone, brands own many of those.
        tld = domain.rsplit(".", 1)[-1]
        if len(tld) == 2 or domain.count(".") > 1:
            return ""
        return f"{domain} uses the name of {index.exact[label]} under another suffix"
    near = _one_edit_from(label, index)
    if near is not None:
        return f"{domain} imitates {near[0]} ({near[1]})"
    skeleton = index.skeletons.get(_skeleton(label))
    if skeleton:
        return f"{domain} imitates {skeleton[0]} ({skeleton[1]})"
    if index.dressed is not None:
        found = index.dressed.search(label)
        if found:
            real = found.group(1)
            owner = index.exact.get(real, "")
            return f"{domain} dresses up the name {real} ({owner})"
    return ""


@lru_cache(maxsize=8192)
def lookalike_of(host: str, extra: tuple[str, ...] = ()) -> str:
    """The brand (or own) domain `host` imitates without belonging to it ("" if none).

    Catches one-letter typos (paypa1.com, amazom.com), confusable characters
    (rn for m, 0 for o), the brand's name under another suffix (paypal.info),
    and the brand label dressed up with words (paypal-secure.com).
    """
    host = url_host_unicode(host.lower().strip("."))
    domain = reg_domain(host)
    if not domain or looks_ip(domain) or brand_owning(host) or "." not in domain:
        return ""
    return _lookalike_domain(domain, extra)


@lru_cache(maxsize=8192)
def _lookalike_domain(domain: str, extra: tuple[str, ...]) -> str:
    """lookalike_of for a registrable domain that no brand owns (the hosts of one
    site share the answer)."""
    label = domain.split(".")[0]
    if len(label) > 63:
        return ""
    if extra:
        if domain in extra:
            return ""
        found = _match_label(label, domain, _own_index(extra))
        if found:
            return found
    return _match_label(label, domain, _brand_index())


def load_reference_data() -> None:
    """Load the brand list, its indexes and the public suffix list now, once per
    worker, instead of inside whichever check first needs them on the first
    message (about 0.1 s of parsing that a per-message timing charged to one check)."""
    from mailsphere_cli.perimeter.dmarc import _psl
    _psl()
    _suffix_tails()
    brands()
    _domain_owners()
    _brand_words()
    _brand_first_tokens()
    _brand_index()
    _brand_domain_res()
    _label_owners()


# -- the message's links -----------------------------------------------------------

@lru_cache(maxsize=1)
def _brand_domains() -> frozenset[str]:
    """The brand domains url_brand_elsewhere looks for in paths."""
    return frozenset(d for b in brands() for d in b.domains if d.split(".")[0] not in _EVERYDAY)


@lru_cache(maxsize=1)
def _brand_domain_res() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(the brand domains' last labels after a dot, the brand domains): a path without
    the first holds none of the second. The second longest first; equal lengths in
    text order, so the pattern is the same in every process (set order is not) and
    comes from the regex cache (regex_cache.py)."""
    domains = sorted(_brand_domains(), key=lambda d: (-len(d), d))
    tails = sorted({d.rsplit(".", 1)[1] for d in domains}, key=lambda t: (-len(t), t))
    return (re.compile(r"\.(?:%s)(?![\w-])" % "|".join(map(re.escape, tails))),
            re.compile(r"(?<![\w-])(?:%s)(?![\w-])" % "|".join(map(re.escape, domains))))


def brand_domain_in(path: str) -> str:
    """The first brand domain in `path` standing alone (no word character or dash on
    either side), the longest where several start at one place. Every such domain ends
    in one of a few last labels after a dot, so the alternation of all of them (about
    1.9 us a corpus path) is searched only in paths that hold one (92 of 3285 corpus
    paths; 0.45 us a path in all)."""
    tails, domains = _brand_domain_res()
    if tails.search(path) is None:
        return ""
    found = domains.search(path)
    return found.group(0) if found else ""


@lru_cache(maxsize=1)
def _label_owners() -> dict[str, str]:
    return {label: b.name for b in brands() for label in b.labels if label not in _EVERYDAY}


_SHOWN_DOMAIN = re.compile(r"^\s*(?:https?://)?(?:[\w-]+\.)+[a-z]{2,24}(?:[:/]\S*)?\s*$", re.I)


@check("url_anchor_mismatch", requires="html")
def url_anchor_mismatch(msg: Any, ctx: Any) -> str:
    """The text of a link shows one domain while the link goes to another."""
    if not msg.html:
        return ""
    for anchor in msg.html_doc.anchors[:MAX_URLS]:
        text = anchor.text.strip()
        if "." not in text or not _SHOWN_DOMAIN.match(text):
            continue  # (a shown domain has a dot: most link texts are ruled out without the pattern)
        shown = url_host(normalise_url(text if "://" in text else "http://" + text))
        real = url_host(normalise_url(anchor.href))
        if not shown or not real:
            continue
        if reg_domain(shown) != reg_domain(real):
            owner = brand_owning(shown)
            if owner is not None and brand_owning(real) is owner:
                continue  # one brand's two domains
            return f"link shows {text[:60]} but goes to {real}"
    return ""


@check("url_brand_elsewhere", requires="urls")
def url_brand_elsewhere(msg: Any, ctx: Any, where: str) -> str:
    """A brand's name in a link's host or path while the host is not the brand's.

    where = "subdomain": paypal.com.secure-check.net, www.ebay.de.example.ru
    where = "path": evil.example/paypal/login, evil.example/www.ebay.com/
    """
    if where == "subdomain":
        for host in hosts(msg):  # the answer depends on the host alone
            found = _brand_in_subdomain(host)
            if found:
                return found
        return ""
    if where != "path":
        raise ValueError(f"unknown where {where!r}")
    for url, _, path, _ in _foreign_links(msg):
        if "." not in path:
            continue
        path = path.lower()[:300]
        if "." not in path:
            continue
        found = brand_domain_in(path)
        if found:
            return f"{url[:120]} carries {found} in its path"
    return ""


@lru_cache(maxsize=8192)
def _brand_in_subdomain(host: str) -> str:
    if brand_owning(host):
        return ""
    labels = host.split(".")
    domain = reg_domain(host)
    owners = _label_owners()
    for label in labels[: max(0, len(labels) - len(domain.split(".")))]:
        if label in owners:
            return f"{host} puts {owners[label]} in front of {domain}"
    return ""


@per_message
def _foreign_links(msg: Any) -> list[tuple[str, str, str, str]]:
    """(url, host, path, query) of the links whose host is no brand's (and not empty),
    in order: url_brand_elsewhere reads their paths and url_login_non_brand their
    paths and queries, so each link is split once a message, not once per check.
    path_query cannot raise here: url_host split each of these URLs for its host."""
    out = []
    for url, host in links(msg):
        if host and not brand_owning(host):
            path, query = path_query(url)
            out.append((url, host, path, query))
    return out


@check("url_lookalike", requires="urls", key="hosts")
def url_lookalike(msg: Any, ctx: Any) -> str:
    own = own_domains(ctx)
    for host in hosts(msg):
        found = lookalike_of(host, own)
        if found:
            return found
    return ""


@check("url_host_listed", requires="urls", key="hosts")
def url_host_listed(msg: Any, ctx: Any, data: str) -> str:
    """A link's host (or its registrable domain) is on a data list (shorteners...)."""
    listed = word_list(data)
    for host in hosts(msg):
        if host in listed or reg_domain(host) in listed or host.removeprefix("www.") in listed:
            return host
    return ""


@check("url_suspicious_tld", requires="urls", key="hosts")
def url_suspicious_tld(msg: Any, ctx: Any) -> str:
    for host in hosts(msg):
        tld = suspicious_tld(host)
        if tld and not looks_ip(host):
            return f"{host} (.{tld})"
    return ""


@check("url_distinct_domains", key="hosts")
def url_distinct_domains(msg: Any, ctx: Any, count: int) -> str:
    domains = {reg_domain(h) for h in hosts(msg)}
    return f"{len(domains)} distinct link domains" if len(domains) >= count else ""


@check("url_count")
def url_count(msg: Any, ctx: Any, count: int) -> str:
    return f"{len(msg.urls)} links" if len(msg.urls) >= count else ""


_LOGIN_PATH = re.compile(r"log-?in|log-?on|sign-?in|signon|verif|confirm|webscr|banking|password|"
                         r"unlock", re.I)
# _LOGIN_PATH for ASCII text lowercased first: the same matches, and re skips ahead to the
# letters a word can start with (with re.I it tries every word at every character)
_LOGIN_PATH_LOWER = re.compile(_LOGIN_PATH.pattern)
_LOGIN_HOST = re.compile(r"secure|account|update|log-?in|sign-?in|verif|banking|webscr|confirm", re.I)


@lru_cache(maxsize=8192)
def _login_host_kind(host: str) -> bool | None:
    """None for no host or a brand's host (the link is passed over), else whether the
    host name itself looks like a sign-in page (then its path need not be read)."""
    if not host or brand_owning(host):
        return None
    return bool(_LOGIN_HOST.search(host))


@check("url_login_non_brand", requires="urls")
def url_login_non_brand(msg: Any, ctx: Any) -> str:
    """The message names a brand and links to a sign-in looking page not on its domains."""
    for url, host, path, query in _foreign_links(msg):
        if not _login_host_kind(host):  # (a brand's host or none is not among them)
            text = path[:300] + "?" + query[:300]
            if not (_LOGIN_PATH_LOWER.search(text.lower()) if text.isascii() else _LOGIN_PATH.search(text)):
                continue
        # the first such link; only now is the body read for brand names
        named = first_brand_named(msg.body)
        return f"names {named.name} but links to {url[:120]}" if named else ""
    return ""


@check("url_only_foreign_brand", requires="urls")
def url_only_foreign_brand(msg: Any, ctx: Any) -> str:
    """From claims a brand's domain, and some links go there, but the action link does not.

    Phishing copies the brand's page: logos and footers point at the real site,
    while the one link that matters goes elsewhere.
    """
    brand = brand_owning(msg.from_domain) if msg.from_domain else None
    if brand is None:
        return ""
    linked = hosts(msg)
    foreign = [h for h in linked if brand_owning(h) is not brand]
    if foreign and len(foreign) < len(linked):
        return f"From {msg.from_domain} ({brand.name}) but links also go to {foreign[0]}"
    return ""


@check("url_brand_mentioned_no_brand_link", requires="urls")
def url_brand_mentioned_no_brand_link(msg: Any, ctx: Any) -> str:
    """The subject or From names a brand; links exist but none is on a domain of that brand."""
    linked = hosts(msg)
    if not linked:
        return ""
    for brand in brands_named(msg.subject + " " + msg.from_name):
        if not any(brand_owning(h) is brand for h in linked):
            return f"names {brand.name}; links go to {linked[0]}"
    return ""
