"""What the classifier reads: tokens about the mail itself, not about the mailbox it sits in.

A model trained on one organisation's mail learns anything that separates its
ham from its spam, including accidents of provenance: the recipients, the
organisation's relay names, the dates, the list software that only the ham
went through, the Message-ID host of one provider. Those make a model look
perfect on its own corpus and fail on the next one, so none of them become
tokens. Nor do the tag, footer and links a mailing list adds to every message it
forwards (spam it forwards included). What does: the words of the subject (and
their character n-grams) and body, the link targets reduced to registrable
domain and path words, the MIME shape, the true type of each attachment, the
sender's display name and domain, the mailer's product name.

Every token carries a short prefix saying where it came from ("s:" subject,
"w:" body word, "u:" link domain ...), so `explain` can say why.
"""
from __future__ import annotations

import re
from functools import lru_cache
from operator import add as _concat
from typing import TYPE_CHECKING

from mailsphere_cli.message import imported  # modules needed only by some tokens

if TYPE_CHECKING:
    from mailsphere_cli.message import ParsedMessage

# Bump when the tokens change: a model trained on other tokens is refused.
FEATURE_VERSION = 2

MAX_BODY_CHARS = 40_000   # the opening of a long mail says what it is
MAX_TOKENS = 6_000        # bounded work per message whatever it contains
MAX_URLS = 60
MAX_PARTS = 40

_WORD = re.compile(r"[^\W_]{2,30}|[$€£]+|!{2,}|\?{2,}", re.UNICODE)
_DIGITS = re.compile(r"\d")
_URL_PATH_WORD = re.compile(r"[A-Za-z]{3,20}")
_HTML_TAG = re.compile(r"<\s*([a-zA-Z][a-zA-Z0-9]{0,10})\b")
_MAILER_NAME = re.compile(r"[A-Za-z][A-Za-z.\- ]{1,40}")
_EMAILISH = re.compile(r"\S+@\S+")
_URLISH = re.compile(r"https?://|www\.", re.I)
_QUOTE_LINE = re.compile(r"^\s*>", re.M)
_TELLING_TAGS = frozenset({"form", "input", "script", "iframe", "object", "embed"})
# The tags of _HTML_TAG that are telling, found directly: a tag name there is a whole
# run of ASCII letters and digits (followed by a word boundary), so a telling name
# matches where _HTML_TAG would have read exactly it. Letters spelled out in both
# cases (re.I would also take "ſ" for "s" and "K" for "k").
_TELLING_TAG = re.compile(r"<\s*(" + "|".join(
    "".join(f"[{c.upper()}{c}]" for c in tag) for tag in sorted(_TELLING_TAGS)) + r")\b")


@lru_cache(maxsize=8192)
def registrable(host: str) -> str:
    """example.co.uk for mail.example.co.uk; the host itself when there is none."""
    try:
        from mailsphere_cli.perimeter.dmarc import org_domain
    except ImportError:  # a build without the perimeter: keep the last two labels
        return ".".join(host.split(".")[-2:])
    return org_domain(host)


def _shape(word: str) -> str:
    """Numbers become their shape (dates, prices, phone numbers are not vocabulary)."""
    if word.isdigit():
        return f"#{min(len(word), 9)}"
    return "#mix" if _DIGITS.search(word) else word


# Fast word finding. `_WORD` defines the words; `_word_matches` finds the same
# ones with str/bytes methods that run in C, the pattern kept for the odd cases.
# Symbol tokens ($ runs, "!!", "??") are set apart by spaces first and a lone
# "!" or "?" (never part of a match) becomes a space; then every character that
# is not a letter, digit or currency sign can be a separator: no match has one.
_SIGN_CLUSTER = re.compile(r"[$€£!?]+")
_SINGLE_SYMBOLS = frozenset("$€£")
_SYMBOL_PAIRS = tuple(a + b for a in "$€£" for b in "$€£")
_SEPARATOR_BYTES = bytes(c if (c < 128 and chr(c).isalnum()) or c >= 128 or chr(c) in "$!?"
                         else 32 for c in range(256))
# The same with "!" and "?" separators too: what `_set_symbols_apart` makes of them when
# the text has no "!!", "??" and no currency sign (then each is a lone sign, a space),
# done in the translation instead of two passes of str.replace over the text.
_SEPARATOR_BYTES_NO_SIGNS = _SEPARATOR_BYTES.translate(bytes.maketrans(b"!?", b"  "))
# Non-ASCII that is neither a letter or digit, nor space, nor € £ (typographic
# quotes and dashes, mojibake): never part of a match, so it can become a space.
_ODD_CHARACTER = re.compile(r"[^\x00-\x7f\w\s€£]+")
_WORD_MAX = 30
_SHORT_TEXT = 200


def _runs(text: str, table: bytes = _SEPARATOR_BYTES) -> list[str]:
    try:
        return text.encode("utf-8", "surrogatepass").translate(table).decode(
            "utf-8", "surrogatepass").split()
    except UnicodeError:
        kept = "$!?" if table is _SEPARATOR_BYTES else "$"
        return "".join(c if c.isalnum() or c in kept or ord(c) >= 128 else " "
                       for c in text).split()


def _set_symbols_apart(text: str) -> str:
    """Symbol tokens set apart by spaces, a lone "!" or "?" made a space. With no
    "!!", "??" or two currency signs in a row (the usual case) plain replacements
    do it; otherwise each cluster of signs is read by the pattern."""
    if "!!" in text or "??" in text or any(pair in text for pair in _SYMBOL_PAIRS):
        # Each cluster of signs holds exactly the symbol tokens the pattern finds in it.
        return _SIGN_CLUSTER.sub(lambda m: f" {' '.join(_WORD.findall(m.group()))} ", text)
    text = text.replace("!", " ").replace("?", " ")
    for sign in "$€£":
        if sign in text:
            text = text.replace(sign, f" {sign} ")
    return text


def _word_matches(text: str, limit: int) -> list[str]:
    """`_WORD.findall(text)[:limit]`, several times faster on mail-sized text.

    No match crosses the runs that `_runs` returns, and once the signs are set
    apart each run is a whole symbol token or letters and digits; a run longer
    than 30 (rare: then every run is checked) is cut as the pattern's greedy
    `{2,30}` does, and any other run goes through the pattern itself.
    """
    if len(text) < _SHORT_TEXT:
        return _WORD.findall(text)[:limit]  # one pattern call is cheapest for a line
    runs = _runs_apart(text)
    if max(map(len, runs), default=0) <= _WORD_MAX:
        return [run for run in runs if len(run) > 1 or run in _SINGLE_SYMBOLS][:limit]
    return _long_run_matches(runs, limit)


def _runs_apart(text: str) -> list[str]:
    """The runs of `text` with its signs set apart and its odd characters made spaces."""
    table = _SEPARATOR_BYTES_NO_SIGNS
    if "$" in text or "!!" in text or "??" in text or (
            not text.isascii() and ("\u20ac" in text or "\u00a3" in text)):
        # A currency sign or a doubled "!" or "?": a token of signs may be there.
        text = _set_symbols_apart(text)
        table = _SEPARATOR_BYTES
    # (otherwise every "!" and "?" is a lone sign: the table makes it a space)
    if not text.isascii():
        text = _ODD_CHARACTER.sub(" ", text)
    return _runs(text, table)


def _long_run_matches(runs: list[str], limit: int) -> list[str]:
    found: list[str] = []
    for run in runs:
        if run.isalnum():
            if len(run) <= _WORD_MAX:
                if len(run) >= 2:
                    found.append(run)
            else:
                found.extend(piece for start in range(0, len(run), _WORD_MAX)
                             if len(piece := run[start:start + _WORD_MAX]) >= 2)
        else:
            found.extend(_WORD.findall(run))
        if len(found) >= limit:
            break
    return found[:limit]


def words(text: str, limit: int = MAX_TOKENS, hidden: frozenset[str] = frozenset()) -> list[str]:
    """Lowercased words, numbers as shapes, the recipient's own words as `<rcpt>`."""
    text = text.lower()[:MAX_BODY_CHARS * 2]
    if len(text) < _SHORT_TEXT:
        return _finish_words(_WORD.findall(text)[:limit], hidden)
    runs = _runs_apart(text)
    if max(map(len, runs), default=0) > _WORD_MAX:
        return _finish_words(_long_run_matches(runs, limit), hidden)
    # The usual body: `_finish_words` of `_word_matches`, the matches picked and shaped
    # in one pass (shaping changes neither how many there are nor which are kept).
    out = [run if run.isalpha() else _shape(run) for run in runs
           if len(run) > 1 or run in _SINGLE_SYMBOLS][:limit]
    if hidden and not hidden.isdisjoint(out):
        out = ["<rcpt>" if w in hidden else w for w in out]
    return out


def _finish_words(out: list[str], hidden: frozenset[str]) -> list[str]:
    """`words` after the matching: numbers as shapes, the recipient's words hidden."""
    # Each pass below is skipped when one check in C shows it would change nothing.
    if not "".join(out).isalpha():
        out = [w if w.isalpha() else _shape(w) for w in out]
    if hidden and not hidden.isdisjoint(out):
        out = ["<rcpt>" if w in hidden else w for w in out]
    return out

# -- what a mailing list adds ---------------------------------------------------
# A discussion list stamps every message it forwards, ham or spam alike: a tag in
# the subject ("[ILUG] ..."), a footer under the text ("Foo mailing list ...
# listinfo/foo"), its own links. Those words name the mailbox, not the mail: a
# model that learns them calls the spam a list forwards ham. So when a message
# carries a list's headers, the subject tag, the footer and the footer's links are
# not read; what the sender wrote is.
_LIST_HEADERS = ("List-Id", "List-Post", "X-Mailman-Version", "X-BeenThere", "Mailing-List",
                 "X-Loop", "X-Ezmlm-Version", "List-Help")
_LIST_TAG = re.compile(r"^\s*((?:(?:re|aw|sv|fwd?)\s*:\s*)*)\[[^\]\n]{1,40}\]\s*", re.I)
_SEPARATOR_LINE = re.compile(r"^(?:-- ?|[-_=*~]{5,}.*)$", re.M)
_FOOTER_WORDS = ("mailing list", "listinfo", "mailman", "unsubscribe", "subscription",
                 "list maintainer", "sponsored by", "groups", "list archive", "list info")
FOOTER_WINDOW = 1500      # list footers sit in the last lines of the text
FOOTER_HEAD_CHARS = 240   # ... and say what they are in their first lines


_LIST_HEADER_KEYS = frozenset(name.lower() for name in _LIST_HEADERS)
_NAMING_HEADERS = ("List-Id", "List-Post", "X-BeenThere", "Mailing-List", "X-Loop")
_LIST_NAME = re.compile(r"[\w.+-]+@[\w.-]+|<[\w.-]+>")


def list_names(msg: "ParsedMessage") -> tuple[str, ...] | None:
    """None for mail no list forwarded; else the list's own names (addresses, List-Id host)."""
    if _LIST_HEADER_KEYS.isdisjoint(msg.header_names()):
        return None
    return _names_in(tuple(map(msg.header, _NAMING_HEADERS)))


@lru_cache(maxsize=1024)
def _names_in(values: tuple[str | None, ...]) -> tuple[str, ...]:
    """Remembered per worker: a list stamps the same headers on every message."""
    names: set[str] = set()
    for value in values:
        names.update(m.strip("<>.,;:") for m in _LIST_NAME.findall((value or "").lower()))
    return tuple(sorted(n for n in names if len(n) >= 4))


# The separator lines found after a line break: a pattern that starts with a literal
# "\n" is searched from line break to line break, where the multiline "^" of
# _SEPARATOR_LINE is tried at every character of the window (a list message's footer
# search cost ~30 us that way).
_SEPARATOR_AFTER_BREAK = re.compile(r"\n((?:-- ?|[-_=*~]{5,}.*)$)", re.M)


def separator_lines(text: str, start: int) -> list[tuple[int, int]]:
    """(start, end) of every match of _SEPARATOR_LINE in `text` from `start` on, as
    `_SEPARATOR_LINE.finditer(text, start)` finds them: lines, so each begins at the
    start of the text or after a line break."""
    found = []
    if start == 0:
        first = _SEPARATOR_LINE.match(text)
        if first:
            found.append(first.span())
    found.extend(m.span(1) for m in _SEPARATOR_AFTER_BREAK.finditer(text, max(0, start - 1)))
    return found


def footer_start(text: str, names: tuple[str, ...]) -> int:
    """Where the list's footer begins in `text` (len(text) when there is none): the
    first separator line in the last lines of the text whose block (up to the next
    separator) names the list or says what a list footer says. A signature block
    above the footer says neither, and stays."""
    window_start = max(0, len(text) - FOOTER_WINDOW)
    separators = separator_lines(text, window_start)
    for index, (start, end_of_line) in enumerate(separators):
        end = end_of_line + FOOTER_HEAD_CHARS
        if index + 1 < len(separators):
            end = min(end, separators[index + 1][0])
        head = text[end_of_line:end].lower()
        if any(word in head for word in _FOOTER_WORDS) or any(n in head for n in names):
            return start
    return len(text)


def strip_list_tag(subject: str) -> str:
    """"Re: [ILUG] cheap smokes" -> "Re: cheap smokes"."""
    if "[" not in subject:
        return subject
    return _LIST_TAG.sub(lambda m: m.group(1), subject, count=1)


class _Reading:
    """Per message, once: the recipient's words to hide and, for list mail, the list's
    own additions to leave out."""

    __slots__ = ("hidden", "listed", "subject", "text", "footer")

    def __init__(self, msg: "ParsedMessage", hidden: frozenset[str]):
        self.hidden = hidden
        names = list_names(msg)
        self.listed = names is not None
        subject, text = msg.subject, msg.text[:MAX_BODY_CHARS]
        self.footer = ""
        if names is not None:
            subject = strip_list_tag(subject)
            cut = footer_start(text, names)
            text, self.footer = text[:cut], text[cut:]
        self.subject, self.text = subject, text


SUBJECT_GRAM_SIZES = (3, 4, 5)
SUBJECT_GRAM_WORDS = 40


def subject_grams(subject: str, hidden: frozenset[str] = frozenset()) -> list[str]:
    """Character 3- to 5-grams of each subject word, its edges marked ("<fr", "ree>"):
    "V1agra", "fr-ee" and "FREEEE" share pieces with the words they stand for, where
    whole words only match themselves. The subject alone: short, so cheap, and the
    line spammers dress up most."""
    return _grams_of(_word_matches(subject[:300].lower(), SUBJECT_GRAM_WORDS), hidden)


def _grams_of(matches: list[str], hidden: frozenset[str]) -> list[str]:
    grams: list[str] = []
    for word in matches:
        if word in hidden or word.isdigit():  # order numbers and dates are not words
            continue
        grams.extend(_word_grams(word) if len(word) <= _WORD_MAX else
                     _word_grams.__wrapped__(word))
    return grams


@lru_cache(maxsize=32768)
def _word_grams(word: str) -> tuple[str, ...]:
    """Remembered per worker: subjects repeat their words ("re", "your", "free")."""
    marked = f"<{word}>"
    return tuple(f"sc:{marked[i:i + size]}" for size in SUBJECT_GRAM_SIZES
                 for i in range(max(1, len(marked) - size + 1)))


def _subject_tokens(msg: "ParsedMessage", reading: _Reading) -> list[str]:
    return list(_subject_tokens_of(reading.subject, reading.hidden))


@lru_cache(maxsize=4096)
def _subject_tokens_of(subject: str, hidden: frozenset[str]) -> tuple[str, ...]:
    """Remembered per worker: a thread's replies and a campaign's copies share a subject."""
    if len(subject) <= 300:
        # Both read the whole subject then: one matching serves the words and the grams
        # (the grams take the first SUBJECT_GRAM_WORDS of the matches, before shaping).
        matches = _word_matches(subject.lower(), 60)
        tokens = [f"s:{w}" for w in _finish_words(matches, hidden)]
        tokens.extend(_grams_of(matches[:SUBJECT_GRAM_WORDS], hidden))
    else:
        tokens = [f"s:{w}" for w in words(subject[:500], 60, hidden)]
        tokens.extend(subject_grams(subject, hidden))
    letters = sum(map(str.isalpha, subject))
    if letters >= 8:
        upper = sum(map(str.isupper, filter(str.isalpha, subject))) / letters
        if upper > 0.7:
            tokens.append("s*shouting")
    if subject.lower().startswith(("re:", "aw:", "sv:", "fw:", "fwd:")):
        tokens.append("s*reply")
    if not subject.strip():
        tokens.append("s*empty")
    return tuple(tokens)


def _body_tokens(msg: "ParsedMessage", reading: _Reading) -> list[str]:
    hidden = reading.hidden
    text = reading.text
    # A mail with both parts says the same thing twice; read the plain text then.
    size = len(text.strip())
    if size < 40:
        body = text + "\n" + (msg.html_text[:MAX_BODY_CHARS] if msg.html else "")
        size = len(body.strip())
    else:
        body = text
    found = words(body, MAX_TOKENS, hidden)
    if not found:
        tokens = []
    else:
        # No word holds a space, so one join and one split make the tokens in C
        # (the same list as [f"w:{w}" for w in found]).
        tokens = ("w:" + " w:".join(found)).split(" ")
        # Word pairs catch phrases ("click here", "verify your") that single words miss:
        # "b:" + first + "_" made in C like the words, then the second word added (the
        # same list as "b:" + "_".join(pair) for the first 1499 pairs).
        if len(found) > 1:
            tokens.extend(map(_concat, ("b:" + "_ b:".join(found[:1499]) + "_").split(" "),
                              found[1:1500]))
    if ">" in text and _QUOTE_LINE.search(text):
        tokens.append("t*quoted")
    tokens.append("t*len" + ("0" if size < 20 else "s" if size < 300 else "m" if size < 3000
                             else "l"))
    return tokens


_CACHED_URL_CHARS = 500
# The usual link, read without urlsplit: http(s) or ftp, "://", a host of letters,
# digits, ".", "-", "_", "~", maybe a port of digits, then the end or a path, query or
# fragment of printable ASCII. urlsplit's netloc is then the host
# and the port (no userinfo, no brackets), so the host is what `url_host` returns.
_PLAIN_LINK = re.compile(r"(?:[Hh][Tt][Tt][Pp][Ss]?|[Ff][Tt][Pp])://([A-Za-z0-9._~-]*)"
                         r"(?::[0-9]*)?(?:[/?#][!-~]*)?\Z")


@lru_cache(maxsize=4096)
def _url_facts(url: str) -> None | str | tuple[str, tuple[str, ...], bool]:
    """None (no host), "ip", or (registrable domain, path words, has userinfo).

    Remembered per worker: the same links (a sender's site, a list's footer)
    come back message after message. The recipient's words are hidden later."""
    urls = imported("mailsphere_cli.urls")
    plain = _PLAIN_LINK.match(url) if url.isascii() else None
    host = (plain.group(1) if plain else urls.url_host(url) or "").lower().rstrip(".")
    if not host:
        return None
    # Only a host of digits and dots (IPv4) or with colons (IPv6) can be an address;
    # asking `is_ip` about every name costs a raised exception each.
    if (":" in host or not host.strip("[]").strip("0123456789.")) and urls.is_ip(host):
        return "ip"
    # What comes before and after the host as written (all of the URL for both
    # when the host appears in it only in another case).
    before, _, after = url.partition(host) if host in url else (url, "", url)
    # `words` of the path's words joined by spaces: each is 3-20 ASCII letters, so
    # `words` would find each whole and change nothing but the case.
    path_words = tuple(" ".join(_URL_PATH_WORD.findall(after[:200])[:8]).lower().split())
    return registrable(host), path_words, "@" in before


@lru_cache(maxsize=1024)
def _links_in_footer(footer: str) -> frozenset[str]:
    """Remembered per worker: a list adds the same footer to every message it forwards."""
    return frozenset(imported("mailsphere_cli.urls").extract_urls(footer))


def _url_tokens(msg: "ParsedMessage", reading: _Reading) -> list[str]:
    hidden = reading.hidden
    tokens: list[str] = []
    urls = msg.urls
    if reading.footer:
        # The list's own links (listinfo, archives, sponsors) live in its footer.
        footer_urls = _links_in_footer(reading.footer)
        if footer_urls:
            urls = [u for u in urls if u not in footer_urls]
    urls = urls[:MAX_URLS]
    domains: set[str] = set()
    for url in urls:
        facts = _url_facts(url) if len(url) <= _CACHED_URL_CHARS else _url_facts.__wrapped__(url)
        if facts is None:
            continue
        if facts == "ip":
            tokens.append("u*ip")
            continue
        domain, path_words, userinfo = facts
        domains.add(domain)
        tokens.append(f"u:{domain}")
        tokens.append(f"ut:{domain.rsplit('.', 1)[-1]}")
        if hidden and not hidden.isdisjoint(path_words):
            path_words = tuple("<rcpt>" if w in hidden else w for w in path_words)
        tokens.extend(f"up:{w}" for w in path_words)
        if userinfo:
            tokens.append("u*userinfo")
    count = len(urls)
    tokens.append("u*n" + ("0" if count == 0 else "1" if count == 1 else "few" if count < 6
                           else "many"))
    if len(domains) > 3:
        tokens.append("u*domains_many")
    return tokens


def _html_tokens(msg: "ParsedMessage", reading: _Reading) -> list[str]:
    if not msg.html:
        return []
    # Which tags a page uses says more about the era's mail software than about intent
    # (measured: tag tokens pushed modern HTML newsletters towards spam), so only the
    # few that mark tricks are tokens.
    tags = {tag.lower() for tag in set(_TELLING_TAG.findall(msg.html[:MAX_BODY_CHARS]))}
    tokens = [f"h:{t}" for t in sorted(tags)]
    if not msg.text.strip():
        tokens.append("h*only")
    return tokens


def _structure_tokens(msg: "ParsedMessage", reading: _Reading) -> list[str]:
    filetype = imported("mailsphere_cli.attachments.filetype")
    top = (msg.header("Content-Type") or "text/plain").split(";", 1)[0].strip().lower()
    tokens = [f"m:{top[:40]}"]
    for part in msg.parts[:MAX_PARTS]:
        # Charsets and transfer encodings are left out: they date the mail software
        # (us-ascii lists in 2002, UTF-8 everywhere now), they do not tell spam from ham.
        tokens.append(f"mp:{part.content_type[:40]}")
    for part in msg.attachments[:MAX_PARTS]:
        true = filetype.detect(part.payload)
        tokens.append(f"a:{true.label}")
        tokens.append(f"ac:{true.category}")
        for name in part.filenames[:2]:
            ext = filetype.extension_of(name)
            if ext:
                tokens.append(f"ax:{ext[:10]}")
    if msg.defects:
        tokens.append("m*defects")
    return tokens


def _sender_tokens(msg: "ParsedMessage", reading: _Reading) -> list[str]:
    return list(_sender_tokens_of(
        msg.from_name or "", msg.from_domain, msg.from_addr, tuple(msg.to_addrs[:20]),
        msg.reply_to, msg.header("X-Mailer") or msg.header("User-Agent") or "", reading.hidden))


@lru_cache(maxsize=4096)
def _sender_tokens_of(name: str, domain: str, address: str, recipients: tuple[str, ...],
                      reply_to: str, mailer: str, hidden: frozenset[str]) -> tuple[str, ...]:
    """Remembered per worker: senders write again, to the same recipients."""
    tokens: list[str] = []
    tokens.extend(f"fn:{w}" for w in words(name[:200], 12, hidden))
    if not name:
        tokens.append("fn*none")
    elif _EMAILISH.search(name):
        tokens.append("fn*address")
    elif _URLISH.search(name):
        tokens.append("fn*url")
    if domain:
        org = registrable(domain)
        # Mail from the recipient's own domain is "internal", whatever that domain is.
        internal = any(registrable(a.rpartition("@")[2]) == org for a in recipients)
        tokens.append("fd*internal" if internal else f"fd:{org}")
    else:
        tokens.append("fd*none")
    local = address.partition("@")[0]
    if local and _DIGITS.search(local) and sum(c.isdigit() for c in local) >= 3:
        tokens.append("fl*digits")
    if reply_to and domain and registrable(reply_to.rpartition("@")[2] or domain) != \
            registrable(domain):
        tokens.append("rt*other_domain")
    match = _MAILER_NAME.match(mailer.strip())
    if match:
        product = match.group().strip().split(" ")[0].lower()
        tokens.append(f"x:{product[:20]}")
    return tuple(tokens)


def recipient_words(msg: "ParsedMessage") -> frozenset[str]:
    """Words naming the recipient: local parts and domain labels of To/Cc/Delivered-To.

    Spam that greets "zzzz" from "spamassassin.taint.org" is spam for any
    recipient; the model must learn "greets the recipient by address", not the
    name of one mailbox.
    """
    return _words_naming(tuple(msg.to_addrs[:20]))


@lru_cache(maxsize=4096)
def _words_naming(addresses: tuple[str, ...]) -> frozenset[str]:
    """Remembered per worker: a mailbox's mail goes to the same few addresses."""
    found: set[str] = set()
    for address in addresses:
        found.update(_address_words(address))
    return frozenset(w for w in found if len(w) >= 3 and not w.startswith("#"))


@lru_cache(maxsize=8192)
def _address_words(address: str) -> tuple[str, ...]:
    """Remembered per worker: the same addresses recur in other recipient lists."""
    local, _, domain = address.partition("@")
    found = words(local, 10)
    org = registrable(domain) if domain else ""
    labels = domain.split(".")
    suffix_labels = len(org.split(".")) - 1 if org else 1
    for label in labels[: max(0, len(labels) - suffix_labels)]:
        found.extend(words(label, 5))
    return tuple(found)


def tokens_of(msg: "ParsedMessage") -> list[str]:
    """Every token of one message, bounded. Never raises on hostile input."""
    try:
        hidden = recipient_words(msg)
    except (ValueError, LookupError, UnicodeError):
        hidden = frozenset()
    try:
        reading = _Reading(msg, hidden)
    except (ValueError, LookupError, RecursionError, UnicodeError):
        reading = _Reading.__new__(_Reading)
        reading.hidden, reading.listed, reading.footer = hidden, False, ""
        reading.subject, reading.text = msg.subject, msg.text[:MAX_BODY_CHARS]
    tokens: list[str] = []
    for extractor in (_subject_tokens, _body_tokens, _url_tokens, _html_tokens,
                      _structure_tokens, _sender_tokens):
        try:
            found = extractor(msg, reading)
        except (ValueError, LookupError, RecursionError, UnicodeError):
            # One unreadable view of the message must not cost the others.
            found = [f"err*{extractor.__name__.strip('_')}"]
        tokens.extend(found)
        if len(tokens) >= MAX_TOKENS * 2:
            break
    return tokens[: MAX_TOKENS * 2]
