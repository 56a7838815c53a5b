"""The learning classifier: features, training, model files, incremental update, the stage."""
from __future__ import annotations

import json
import random
from pathlib import Path

import joblib
import numpy as np
import pytest

from mailsphere_cli.classifier import (BANDS, ModelError, Models, band_for, build_services,
                                       load_model, org_model_path, run)
from mailsphere_cli.classifier.features import tokens_of
from mailsphere_cli.classifier.model import FORMAT_VERSION
from mailsphere_cli.classifier.training import (Corpus, TrainingError, check_enough, explain,
                                                read_corpus, train, update)
from mailsphere_cli.config import Config, OrgConfig
from mailsphere_cli.context import Context
from mailsphere_cli.message import ParsedMessage
from tests.classifier_corpus import make_message, write_corpus


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("corpora")
    return write_corpus(root / "ham", "ham", 40), write_corpus(root / "spam", "spam", 40)


@pytest.fixture(scope="module")
def trained(corpora, tmp_path_factory):
    ham, spam = corpora
    report = train(read_corpus([str(ham)], [str(spam)]), org="acme")
    path = tmp_path_factory.mktemp("model") / "acme.joblib"
    report.model.save(path)
    return report, path


# -- features ---------------------------------------------------------------------------
def test_tokens_leave_out_the_mailbox_and_keep_the_mail():
    raw = (b"Received: from relay7.corp-internal.example.com (10.1.2.3)\n"
           b"Message-ID: <abc123@mx.provider-one.test>\n"
           b"List-Id: <workers.lists.example.org>\n"
           b"Date: Tue, 03 Mar 2026 09:00:00 +0000\n"
           b"From: \"Prize Desk\" <desk@winners.test>\n"
           b"To: zzzz@spamassassin.taint.org\n"
           b"Subject: zzzz, claim your prize\n\n"
           b"Dear zzzz, claim 1000000 now at http://www.claims.winners.test/claim/now?id=5\n"
           b"Offer ends 2026-03-04.\n")
    tokens = tokens_of(ParsedMessage(raw))
    text = " ".join(tokens)
    for provenance in ("relay7", "corp", "provider", "workers", "zzzz", "taint",
                       "spamassassin", "2026", "received", "list"):
        assert provenance not in text, provenance
    assert "s:claim" in tokens and "s:prize" in tokens
    assert "s:<rcpt>" in tokens and "w:<rcpt>" in tokens  # "greets the recipient" survives
    assert "u:winners.test" in tokens and "up:claim" in tokens
    assert "fn:prize" in tokens and "fd:winners.test" in tokens
    assert "w:#7" in tokens  # numbers become shapes


def test_tokens_of_hostile_message_are_bounded():
    raw = b"Subject: " + b"A" * 100_000 + b"\n\n" + b"word " * 400_000
    tokens = tokens_of(ParsedMessage(raw))
    assert 0 < len(tokens) <= 12_000


# -- training ---------------------------------------------------------------------------
def test_training_separates_the_classes(trained, corpora):
    report, path = trained
    assert report.chosen.auc > 0.98
    assert {e.family for e in report.evaluations} == {"logistic", "sgd", "complement_nb"}
    assert report.chosen.family in report.why
    model = load_model(path)
    rng = random.Random("fresh")
    ham_p = [model.probability(tokens_of(ParsedMessage(make_message("ham", 900 + i, rng))))
             for i in range(10)]
    spam_p = [model.probability(tokens_of(ParsedMessage(make_message("spam", 900 + i, rng))))
              for i in range(10)]
    assert max(ham_p) < 0.2 and min(spam_p) > 0.8
    spam_words = " ".join(t for t, _ in report.top["spam"][:10])
    assert any(w in spam_words for w in ("money", "prize", "cash", "free", "offer", "claim"))


def test_model_card_written_beside_the_model(trained):
    _, path = trained
    card = json.loads(path.with_name("acme.card.json").read_text())
    assert card["organisation"] == "acme" and card["format_version"] == FORMAT_VERSION
    assert card["counts"] == {"ham": 40, "spam": 40, "duplicates": 0, "conflicts": 0,
                              "unreadable": 0}
    assert "scikit-learn" in card["libraries"] and card["cross_validation"]["chosen"]["roc_auc"]
    assert card["top_features"]["spam"] and card["trained_at"]


def test_refuses_too_little_mail_and_dedupes(tmp_path, corpora):
    ham, _ = corpora
    spam = write_corpus(tmp_path / "spam", "spam", 5)
    corpus = read_corpus([str(ham), str(ham)], [str(spam)])  # ham given twice: deduplicated
    assert corpus.ham == 40 and corpus.duplicates == 40
    with pytest.raises(TrainingError, match="at least 20 of each"):
        train(corpus)


def test_warns_on_imbalance():
    corpus = Corpus([["w:x"]] * 250 + [["w:y"]] * 20, [0] * 250 + [1] * 20)
    assert "imbalanced" in check_enough(corpus)[0]


# -- model files ------------------------------------------------------------------------
def test_corrupt_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(b"\x80\x04 this is not a model")
    with pytest.raises(ModelError, match="not a readable model file"):
        load_model(bad)
    with pytest.raises(ModelError, match="cannot be read|No such file"):
        load_model(tmp_path / "missing.joblib")


@pytest.mark.parametrize("change, message", [
    ({"format_version": FORMAT_VERSION + 1}, "model format"),
    ({"libraries": {"scikit-learn": "0.24.2", "numpy": np.__version__}},
     "incompatible major version"),
    ({"feature_version": 999}, "feature set"),
])
def test_incompatible_model_is_refused(trained, tmp_path, change, message):
    _, path = trained
    payload = joblib.load(path)
    payload["card"] = {**payload["card"], **change}
    odd = tmp_path / "odd.joblib"
    joblib.dump(payload, odd)
    with pytest.raises(ModelError, match=message):
        load_model(odd)


def test_unusable_model_skips_the_stage_and_the_scan_goes_on(tmp_path):
    from mailsphere_cli.sources import Location, RawMessage
    from mailsphere_cli.workers import Settings, build_pipeline

    bad = tmp_path / "bad.joblib"
    bad.write_bytes(b"garbage")
    pipeline = build_pipeline(Settings(config=Config(), offline=True, model=str(bad)))
    data = make_message("spam", 1, random.Random(1))
    verdict = pipeline.run(RawMessage("x" * 64, "t.eml", data, len(data), Location("eml", "t")))
    skipped = {s.name: s.reason for s in verdict.skipped}
    assert "not a readable model file" in skipped["classifier"]
    assert not any(h.rule.startswith("CLASSIFIER_") for h in verdict.hits)
    assert verdict.action.value in ("deliver", "spam") and not verdict.errors


# -- incremental update -----------------------------------------------------------------
def test_update_changes_a_borderline_verdict(trained, tmp_path):
    _, path = trained
    model = load_model(path)
    rng = random.Random("borderline")
    mixed = [rng.choice(("budget", "review", "prize", "cash", "the", "of")) for _ in range(60)]
    borderline = make_message("ham", 777, rng, words=mixed)
    before = model.probability(tokens_of(ParsedMessage(borderline)))
    assert 0.05 < before < 0.95
    folder = tmp_path / "reported"
    folder.mkdir()
    (folder / "fn.eml").write_bytes(borderline)
    record = update(model, read_corpus([], [str(folder)]))
    after = model.probability(tokens_of(ParsedMessage(borderline)))
    assert after > max(0.8, before) and record["spam"] == 1
    assert band_for(after, list(BANDS)) != band_for(before, list(BANDS))
    # It still knows plain ham from before: no forgetting.
    ham = make_message("ham", 778, random.Random("plain"))
    assert model.probability(tokens_of(ParsedMessage(ham))) < 0.2
    model.save(tmp_path / "updated.joblib")
    assert load_model(tmp_path / "updated.joblib").card["updates"][0]["spam"] == 1


def test_explain_names_the_words(trained):
    _, path = trained
    model = load_model(path)
    words = ["prize"] * 10 + ["budget"] * 10
    result = explain(model, ParsedMessage(make_message("spam", 5, random.Random(5), words=words)))
    assert "w:prize" in [t for t, _ in result.towards_spam]
    assert "w:budget" in [t for t, _ in result.towards_ham]


# -- the stage --------------------------------------------------------------------------
def test_stage_uses_the_org_model_and_adds_one_band(trained, tmp_path):
    _, path = trained
    target = org_model_path(tmp_path, "acme")
    target.parent.mkdir(parents=True)
    target.write_bytes(path.read_bytes())
    org = OrgConfig(name="acme", domains=("example.com",))
    config = Config(orgs={"acme": org})
    services = build_services(config, None, data_dir=tmp_path)
    models: Models = services["classifier"]
    assert "acme" in models.by_org
    msg = ParsedMessage(make_message("spam", 3, random.Random(3)))
    ctx = Context(msg=msg, config=config, org=org, services=services)
    run(msg, ctx)
    bands = [h for h in ctx.hits if h.rule.startswith("CLASSIFIER_")]
    assert len(bands) == 1 and ctx.spam_probability > 0.8
    assert "model of acme" in bands[0].evidence and f"{ctx.spam_probability:.3f}" in \
        bands[0].evidence


def test_band_edges():
    bands = list(BANDS)
    assert band_for(0.0, bands) == "CLASSIFIER_00_01"
    assert band_for(0.01, bands) == "CLASSIFIER_01_05"
    assert band_for(0.5, bands) == "CLASSIFIER_50_80"
    assert band_for(1.0, bands) == "CLASSIFIER_99_100"


# -- the fast paths give exactly what the definitions give -------------------

def test_fast_word_finding_matches_the_pattern():
    import random

    from mailsphere_cli.classifier.features import _WORD, _word_matches

    pieces = ["Hello", "world", "WORLD", "it's", "x" * 31, "9" * 64, "$", "$$", "€£", "!", "!!",
              "?", "???", "!?", "a_b", "-", ",", "\u2019", "\u201c", "\u2014", "caf\u00e9",
              "stra\u00dfe", "\u0130stanbul", "\ufb01le", "\u00bd", "\u0663\u0664", "\x92",
              "\u00a9", "\u00a0", "\u200b", "\ud800", "\t", "\n", " ", "  ", "<a href=x>", "ǅ"]
    rng = random.Random(7)
    samples = ["", "a", "ab " * 100, "buy now!!! $$$ only $5 ?? ok? " * 20]
    samples += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 120))) for _ in range(3000)]
    for text in samples:
        text = text.lower()
        for limit in (3, 6000):
            assert _word_matches(text, limit) == _WORD.findall(text)[:limit], repr(text[:80])


def test_words_in_one_pass_match_matching_then_finishing():
    """`words` picks and shapes the matches of a usual body in one pass: the same list as
    `_finish_words(_word_matches(...))`, digits, signs, long runs and hidden words included."""
    import random

    from mailsphere_cli.classifier.features import _finish_words, _word_matches, words

    pieces = ["Hello", "world", "2024", "12", "a1b2", "x9", "1st", "$", "$$", "€", "!!", "??", "!",
              "?", "-", ",", " ", "  ", "\n", "caf\u00e9", "\u0663\u0664", "\u00bd", "x" * 31,
              "7" * 40, "zzzz", "example", "rcpt", "\u2019", "ǅ", "\u0130stanbul"]
    hidden = frozenset({"zzzz", "example"})
    rng = random.Random(11)
    samples = ["", "zzzz " * 60, "order 12345 on 2024-01-05 for $5 !! " * 10]
    samples += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 200))) for _ in range(3000)]
    shaped = 0
    for text in samples:
        for limit, hide in ((6000, hidden), (5, hidden), (6000, frozenset())):
            expected = _finish_words(_word_matches(text.lower()[:80_000], limit), hide)
            assert words(text, limit, hide) == expected, repr(text[:80])
            shaped += any(w.startswith("#") for w in expected)
    assert shaped > 1000


def test_body_tokens_are_the_words_and_their_pairs():
    """The body's tokens, made with joins and splits in C, are "w:" + each word and
    "b:" + the first 1500 words joined pairwise by "_", then the length (and quoting)
    marks; whatever the text holds (signs, hidden words, short and long bodies)."""
    from mailsphere_cli.classifier.features import (_body_tokens, _Reading, recipient_words,
                                                    words)

    pieces = ["Hello", "world", "2024", "a1b2", "$", "$$", "€5", "£", "!!", "??", "!",
              "?", "-", ",", " ", "\n", "café", "x" * 31, "zzzz", "click here", "> quoted",
              "’", "İstanbul"]
    rng = random.Random(13)
    bodies = ["", "hi", "word " * 1600, "one two"]
    bodies += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 400))) for _ in range(400)]
    pairs_seen = 0
    for body in bodies:
        msg = ParsedMessage(b"From: a@b.example\nTo: zzzz@c.example\nSubject: s\n\n"
                            + body.encode("utf-8"))
        reading = _Reading(msg, recipient_words(msg))
        text = reading.text
        read = text if len(text.strip()) >= 40 else text + "\n"
        found = words(read, 6000, reading.hidden)
        expected = [f"w:{w}" for w in found]
        expected += [f"b:{a}_{b}" for a, b in zip(found[:1500], found[1:1500])]
        tokens = _body_tokens(msg, reading)
        assert tokens[:len(expected)] == expected, repr(body[:80])
        assert all("*" in t for t in tokens[len(expected):])
        pairs_seen += len(found) > 1500
    assert pairs_seen >= 1


def test_link_path_words_are_what_words_finds_in_them():
    """A link's path words (3-20 ASCII letters each, eight at most) lowercased are what
    `words` gives for them joined by spaces, as the tokens were made before."""
    from mailsphere_cli.classifier.features import _URL_PATH_WORD, _url_facts, words

    rng = random.Random(17)
    pieces = ["/", "-", "_", ".", "?", "=", "&", "%20", "Login", "VERIFY", "account", "x",
              "ab", "abc", "a" * 25, "Z" * 41, "café", "Kelvin", "123", "ſecure", "~u"]
    checked = 0
    for _ in range(3000):
        path = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        url = f"http://www.example.test/{path}"
        facts = _url_facts.__wrapped__(url)
        after = url.partition("www.example.test")[2]
        expected = tuple(words(" ".join(_URL_PATH_WORD.findall(after[:200])[:8]), 8))
        assert facts[1] == expected, url
        checked += len(expected) == 8
    assert checked > 100


def test_telling_tags_found_as_the_tag_pattern_finds_them():
    """The direct search finds exactly the telling names among the tags _HTML_TAG reads,
    whatever follows, precedes or spells them (case, underscores, non-ASCII letters)."""
    import random

    from mailsphere_cli.classifier.features import _HTML_TAG, _TELLING_TAG, _TELLING_TAGS

    def by_all_tags(html: str) -> set[str]:
        return {t.lower() for t in _HTML_TAG.findall(html)} & _TELLING_TAGS

    pieces = ["<", "< ", "<\n", "</", "form", "FORM", "Form", "forms", "form1", "form_", "formé",
              "script", "ſcript", "SCRİPT", "iframe", "input", "object", "embed", "embedded",
              "x" * 12, "inputinputinput", ">", " ", "=", "-", "\u00a0", "\u212a", "a", "1"]
    rng = random.Random(11)
    samples = ["<form>", "<FORM action=x>", "< script>", "<scripts>", "<iframe/>", "<formé>",
               "<input_x>", "<ſcript>", "<objectobjectx>", "<embed"]
    samples += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(5000)]
    for html in samples:
        found = {t.lower() for t in _TELLING_TAG.findall(html)}
        assert found == by_all_tags(html), repr(html)


def test_subject_tokens_share_one_matching():
    """A subject up to 300 characters is matched once for its words and its grams; the
    tokens are those of `words` and `subject_grams` each reading it, as before."""
    import random

    from mailsphere_cli.classifier.features import _subject_tokens_of, subject_grams, words

    pieces = ["Re: ", "FREE", "free", "V1agra", "order 20931", "!!", "$$", "\u0130stanbul",
              "caf\u00e9", "zzzz", "x" * 31, " ", "-", "[ILUG] ", "\u00bd", "ALL CAPS NOW "]
    rng = random.Random(5)
    subjects = ["", "hi", "x" * 299 + " end", "y" * 301 + " end"]
    subjects += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 60))) for _ in range(800)]
    for subject in subjects:
        for hidden in (frozenset(), frozenset({"zzzz", "free"})):
            tokens = _subject_tokens_of.__wrapped__(subject, hidden)
            expected = [f"s:{w}" for w in words(subject[:500], 60, hidden)]
            expected += subject_grams(subject, hidden)
            assert list(tokens[:len(expected)]) == expected, repr(subject)
            assert all("*" in t for t in tokens[len(expected):])


def test_plain_link_host_is_the_url_host():
    """The links read without urlsplit give the host `url_host` gives; anything else
    (userinfo, brackets, odd characters, other schemes) is left to `url_host`."""
    import random

    from mailsphere_cli.classifier.features import _PLAIN_LINK
    from mailsphere_cli.urls import url_host

    pieces = ["http", "HTTP", "https", "ftp", "hxxp", "://", ":/", "//", "example.com", "a.b", "@",
              "user:pw@", ":", "8080", ":x", "/", "?", "#", "[", "]", "::1", " ", "\t", "\n", "\u00e9",
              "%41", "-", "_", "~", ".", "\\", "x", "\x00", "\x7f", "!", "'", '"']
    samples = ["http://Example.COM/x", "https://a.b:8080?q", "http://host:80@evil.test/",
               "http://user:pw@host/", "http://[::1]/", "ftp://files.test", "http://h/p@q"]
    taken = 0
    for seed in range(2):
        rng = random.Random(seed)
        for _ in range(20000):
            url = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
            samples.append(rng.choice(["http://", "HTTPS://", "ftp://", ""]) + url)
    for url in samples:
        plain = _PLAIN_LINK.match(url) if url.isascii() else None
        if plain:
            taken += 1
            assert plain.group(1).lower() == url_host(url), repr(url)
    assert taken > 1000


def test_fast_buckets_match_the_hasher():
    from mailsphere_cli.classifier.model import bucket_array, bucket_of, hashed_row, vectorise

    tokens = ["w:hello", "w:hello", "s:caf\u00e9", "b:a_b", "u:example.com", "w:\u0130", "", "w:\U0001f600"]
    assert bucket_array(tokens).tolist() == [bucket_of(t) for t in tokens]
    indices, values = hashed_row(tokens)
    row = vectorise([tokens])
    assert indices.tolist() == sorted(row.indices.tolist())
    assert np.allclose(values, row.toarray()[0][indices], atol=1e-12)
    # A lone surrogate (never from a decoded message, but input is hostile) is an
    # exception like before, never a crash of the C hasher.
    with pytest.raises(UnicodeEncodeError):
        bucket_array(["w:ok", "w:\ud800"])


# -- what a mailing list adds is not the mail ------------------------------------------
_LIST_SPAM_BODY = (b"Hello, my name is Kelly and I am waiting on my webcam for you.\n"
                   b"Click http://www.cam-girls.test/live and meet me now\n\n")
_LIST_FOOTER = (b"-- \nIrish Linux Users' Group: ilug@linux.example\n"
                b"http://www.linux.example/mailman/listinfo/ilug for (un)subscription "
                b"information.\nList maintainer: listmaster@linux.example\n")


def _list_copy(footer: bytes = _LIST_FOOTER, list_headers: bool = True) -> bytes:
    headers = (b"List-Id: Irish Linux Users' Group <ilug.linux.example>\n"
               b"X-BeenThere: ilug@linux.example\nX-Mailman-Version: 1.1\n"
               if list_headers else b"")
    return (b"From: Kelly <kelly@cam-girls.test>\nTo: ilug@linux.example\n" + headers +
            b"Subject: [ILUG] Re: my webcam is on\n\n" + _LIST_SPAM_BODY + footer)


def test_list_tag_footer_and_footer_links_are_not_read():
    direct = (b"From: Kelly <kelly@cam-girls.test>\nTo: bob@home.test\n"
              b"Subject: Re: my webcam is on\n\n" + _LIST_SPAM_BODY)
    forwarded = tokens_of(ParsedMessage(_list_copy()))
    alone = tokens_of(ParsedMessage(direct))
    for token in ("s:ilug", "w:irish", "w:linux", "w:listinfo", "w:maintainer",
                  "u:linux.example", "up:mailman"):
        assert token not in forwarded, token
    # What the sender wrote reads the same whichever way it came.
    sender_wrote = [t for t in alone if t.startswith(("s:", "sc:", "w:", "b:", "u:", "up:"))]
    assert sender_wrote == [t for t in forwarded if t.startswith(("s:", "sc:", "w:", "b:", "u:",
                                                                  "up:"))]
    assert "s*reply" in forwarded and "u:cam-girls.test" in forwarded


def test_list_footer_is_cut_only_on_list_mail_and_only_at_a_footer():
    from mailsphere_cli.classifier.features import footer_start, strip_list_tag

    # No list headers: the same text is the sender's, read in full.
    tokens = tokens_of(ParsedMessage(_list_copy(list_headers=False)))
    assert {"w:listinfo", "w:maintainer", "w:irish", "u:linux.example"} <= set(tokens)
    # A signature that says nothing of a list stays; the list footer under it goes.
    text = "hi there\n-- \nKelly, swimming instructor\n" + _LIST_FOOTER.decode()
    start = footer_start(text, ("ilug@linux.example",))
    assert text[:start].endswith("swimming instructor\n")
    assert footer_start("no footer here\n-- \nKelly\n", ("ilug@linux.example",)) == \
        len("no footer here\n-- \nKelly\n")
    # Mailman's "____ / Foo mailing list" footer, with a sponsor block above it.
    text = ("body\n-------------------------------------------------------\nThis sf.net email "
            "is sponsored by: ThinkGeek\n_______________________________________________\n"
            "Razor-users mailing list\nhttps://lists.example/listinfo/razor-users\n")
    assert text[:footer_start(text, ())] == "body\n"
    assert strip_list_tag("[ILUG] Re: hello") == "Re: hello"
    assert strip_list_tag("Re: [SAtalk] hello") == "Re: hello"
    assert strip_list_tag("hello [not a tag]") == "hello [not a tag]"


def test_subject_grams_share_pieces_across_spellings():
    from mailsphere_cli.classifier.features import subject_grams

    plain, dressed = set(subject_grams("cheap viagra")), set(subject_grams("CHEAP V1AGRA"))
    assert "sc:<ch" in plain and "sc:gra>" in plain
    assert plain & dressed >= {"sc:<che", "sc:eap>", "sc:gra>", "sc:agra>"}
    assert not any(g[3:].strip("<>").isdigit() for g in subject_grams("order 20931 shipped"))
    assert subject_grams("") == []
    assert "sc:<rcpt>" not in subject_grams("zzzz, claim", frozenset({"zzzz"}))
    assert not any("zz" in g for g in subject_grams("zzzz, claim", frozenset({"zzzz"})))


def test_idf_is_folded_into_the_exported_weights(corpora):
    """The model is fitted on idf-scaled rows; the weights it exports give the same
    decision on the plain rows, so prediction stays one dot product."""
    from scipy import sparse

    from mailsphere_cli.classifier.model import vectorise
    from mailsphere_cli.classifier.training import _fit_family, _fit_scaled, idf_weights

    ham, spam = corpora
    corpus = read_corpus([str(ham)], [str(spam)])
    matrix = vectorise(corpus.tokens)
    labels = np.asarray(corpus.labels)
    idf = idf_weights(matrix)
    assert idf.min() >= 1.0 and idf.max() > 2.0  # common buckets weigh least
    for family in ("sgd", "complement_nb"):  # seeded or exact: the same fit twice
        weights, bias = _fit_family(family, matrix, labels)
        scaled_weights, scaled_bias = _fit_scaled(
            family, sparse.csr_matrix(matrix @ sparse.diags(idf)), labels)
        assert bias == scaled_bias
        assert np.allclose(matrix @ weights, (matrix @ sparse.diags(idf)) @ scaled_weights)


# -- what is remembered per worker is keyed on all it depends on ----------------------------
def _mail(to: str, sender: str = "Prize Desk <desk@winners.test>",
          subject: str = "zzzz, claim your prize", body: str = "Claim it now.") -> bytes:
    return (f"From: {sender}\nTo: {to}\nSubject: {subject}\n\n{body}\n").encode()


def test_remembered_subject_and_sender_tokens_follow_the_recipient():
    # The same subject and sender, seen again for another recipient: the words that name
    # the recipient, and whether the mail is internal, are that recipient's.
    first = tokens_of(ParsedMessage(_mail("zzzz@winners.test")))
    second = tokens_of(ParsedMessage(_mail("other@elsewhere.test")))
    assert "s:<rcpt>" in first and "s:zzzz" not in first
    assert "s:zzzz" in second and "s:<rcpt>" not in second
    assert "fd*internal" in first and "fd:winners.test" not in first
    assert "fd:winners.test" in second and "fd*internal" not in second
    # Asked again, each gives the same tokens as the first time.
    assert tokens_of(ParsedMessage(_mail("zzzz@winners.test"))) == first
    assert tokens_of(ParsedMessage(_mail("other@elsewhere.test"))) == second


def test_remembered_list_names_follow_the_list_headers():
    footer = "\n-- \nTalk list: talk@lists.one.test\n"
    body = "A real question about the release." + footer
    one = ParsedMessage(_mail("me@x.test", body=body).replace(
        b"To:", b"List-Id: <talk.lists.one.test>\nList-Post: <mailto:talk@lists.one.test>\nTo:"))
    other = ParsedMessage(_mail("me@x.test", body=body).replace(
        b"To:", b"List-Id: <chat.lists.two.test>\nList-Post: <mailto:chat@lists.two.test>\nTo:"))
    assert "w:talk" not in tokens_of(one)  # its own footer is cut
    assert "w:talk" in tokens_of(other)    # another list's: a footer naming someone else stays


def test_link_hosts_that_are_addresses_whatever_they_look_like():
    # Only hosts that could be addresses are asked; the answer must be is_ip's for all.
    from mailsphere_cli.classifier.features import _url_facts
    from mailsphere_cli.urls import is_ip, url_host

    hosts = ["192.0.2.7", "[2001:db8::1]", "[::ffff:10.0.0.1]", "10.0.0.1.", "1.2.3", "01.2.3.4",
             "123.example.test", "host-10-1-2-3.example", "1e100.net", "::1", "256.1.1.1",
             "\u0661.\u0662.\u0663.\u0664", "[fe80::1%25eth0]", "0x7f.0.0.1", "example.test"]
    rng = random.Random(3)
    hosts += ["".join(rng.choice("0123456789.:[]abcdef") for _ in range(rng.randint(1, 16)))
              for _ in range(2000)]
    for host in hosts:
        url = f"http://{host}/login"
        name = (url_host(url) or "").lower().rstrip(".")
        if name:
            assert (_url_facts.__wrapped__(url) == "ip") is is_ip(name), host
    assert _url_facts.__wrapped__("http://[2001:db8::1]/x") == "ip"
    assert _url_facts.__wrapped__("http://192.0.2.7/x") == "ip"
    assert _url_facts.__wrapped__("http://123.example.test/x") != "ip"


def test_separator_lines_found_from_line_break_to_line_break_as_the_line_pattern_finds_them():
    import random

    from mailsphere_cli.classifier.features import _SEPARATOR_LINE, separator_lines

    pieces = ["\n", "\n", "--", "-- ", "---", "-----", "=====", "*****", "~~~~~", "_____", "text",
              " ", "x", "-", "\r", "\n\n", "mailing list", "--\n", "\u2014" * 5]
    rng = random.Random(5)
    found = 0
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        for start in {0, 1, len(text) // 2, max(0, len(text) - 5), len(text)}:
            expected = [m.span() for m in _SEPARATOR_LINE.finditer(text, start)]
            assert separator_lines(text, start) == expected, (text, start)
            found += len(expected)
    assert found > 5000
