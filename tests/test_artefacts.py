"""The artefact cache: entries are used only when they are sound and current; a missing,
stale, damaged or foreign entry is rebuilt from the sources, with the same result."""
from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
from publicsuffixlist import PublicSuffixList

from mailsphere_cli import artefacts
from mailsphere_cli.attachments.yara_scan import compile_rules
from mailsphere_cli.classifier.model import ModelError, load_model
from mailsphere_cli.rules.checks import CHECKS, check
from mailsphere_cli.rules.loader import RuleError, default_rules_dir, load_rules
from tests.conftest import ROOT, SAMPLE

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("MAILSPHERE_CACHE_DIR", str(directory))
    monkeypatch.delenv("MAILSPHERE_NO_CACHE", raising=False)
    return directory


class Builder:
    """Counts how often the artefact is really built."""

    def __init__(self, value):
        self.value, self.builds = value, 0

    def __call__(self):
        self.builds += 1
        return self.value


def entries(directory: Path, kind: str) -> list[Path]:
    return sorted(directory.glob(f"{kind}-*.bin"))


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[:len(data) // 2])
    elif how == "flip":
        path.write_bytes(data[:-3] + bytes([data[-3] ^ 0x40]) + data[-2:])
    elif how == "garbage":
        path.write_bytes(b"\x00" * 64)
    elif how == "empty":
        path.write_bytes(b"")


def test_built_once_then_read(cache: Path):
    build = Builder({"a": [1, 2, 3]})
    assert artefacts.cached("thing", [b"x"], build) == {"a": [1, 2, 3]}
    assert artefacts.cached("thing", [b"x"], build) == {"a": [1, 2, 3]}
    assert build.builds == 1
    assert len(entries(cache, "thing")) == 1
    assert artefacts.cached("thing", [b"y"], build) == {"a": [1, 2, 3]}  # other inputs
    assert build.builds == 2


@pytest.mark.parametrize("how", ["truncate", "flip", "garbage", "empty"])
def test_damaged_entry_is_rebuilt_and_rewritten(cache: Path, how: str):
    build = Builder(list(range(1000)))
    artefacts.cached("thing", [b"x"], build)
    (entry,) = entries(cache, "thing")
    damage(entry, how)
    assert artefacts.cached("thing", [b"x"], build) == list(range(1000))
    assert build.builds == 2
    assert artefacts.cached("thing", [b"x"], build) == list(range(1000))
    assert build.builds == 2  # the rebuilt entry was written again and is sound


def test_entry_of_the_wrong_shape_or_writable_by_others_is_not_used(cache: Path):
    build = Builder({"ok": True})
    artefacts.cached("thing", [b"x"], build, check=lambda v: isinstance(v, dict))
    (entry,) = entries(cache, "thing")
    key = entry.name[len("thing-"):-len(".bin")]
    artefacts.write("thing", key, pickle.dumps(["not", "a", "dict"]))  # sound, but wrong
    assert artefacts.cached("thing", [b"x"], build, check=lambda v: isinstance(v, dict)) == \
        {"ok": True}
    assert build.builds == 2
    os.chmod(entry, 0o666)
    assert artefacts.read("thing", key) is None
    os.chmod(entry, 0o600)
    assert artefacts.read("thing", key) is not None
    os.chmod(cache, 0o777)  # a directory anyone may write to
    assert artefacts.read("thing", key) is None
    os.chmod(cache, 0o775)  # group-writable, as a umask of 002 makes it
    assert artefacts.read("thing", key) is not None


def test_off_and_unwritable_cache_only_cost_a_build(cache: Path, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("MAILSPHERE_NO_CACHE", "1")
    build = Builder(7)
    assert artefacts.cached("thing", [b"x"], build) == 7
    assert artefacts.cached("thing", [b"x"], build) == 7
    assert build.builds == 2 and not cache.exists()
    monkeypatch.delenv("MAILSPHERE_NO_CACHE")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("MAILSPHERE_CACHE_DIR", str(blocker / "cache"))
    assert artefacts.cached("thing", [b"x"], build) == 7
    assert build.builds == 3


def test_only_the_most_recently_used_entries_of_a_kind_are_kept(cache: Path):
    made = []
    for i in range(artefacts.KEEP + 3):
        artefacts.cached("thing", [str(i)], Builder(i))
        (new,) = set(entries(cache, "thing")) - set(made)
        os.utime(new, (1000 + i, 1000 + i))  # written long ago, oldest first
        made.append(new)
    kept = entries(cache, "thing")
    assert len(kept) == artefacts.KEEP
    oldest = min(kept, key=lambda p: p.stat().st_mtime)
    build = Builder("never")
    value = artefacts.cached("thing", [str(made.index(oldest))], build)  # used again
    assert build.builds == 0 and value == made.index(oldest)
    artefacts.cached("thing", ["one more"], Builder(-1))
    assert oldest.exists()  # the entry just used was not the one dropped
    assert len(entries(cache, "thing")) == artefacts.KEEP


def test_a_kind_may_keep_more_entries(cache: Path):
    """Hyperscan keeps a dozen databases per rule pack: its kind keeps more than KEEP."""
    for i in range(artefacts.KEEP + 5):
        artefacts.write("many", f"k{i}", b"payload %d" % i, keep=artefacts.KEEP + 5)
    assert len(entries(cache, "many")) == artefacts.KEEP + 5
    artefacts.write("many", "last", b"x", keep=artefacts.KEEP + 5)
    assert len(entries(cache, "many")) == artefacts.KEEP + 5
    assert artefacts.read("many", "last") == b"x"


def _pack_summary(pack) -> str:
    return json.dumps({"version": pack.version, "files": pack.files,
                       "rules": [repr(r) for r in pack.rules.values()],
                       "meta": [r.id for r in pack.meta_order],
                       "decisions": [repr(d) for d in pack.decisions]})


def test_rule_pack_from_cache_equals_fresh(cache: Path, monkeypatch):
    first = load_rules()  # built and stored
    (entry,) = entries(cache, "rulepack")
    cached = load_rules()
    monkeypatch.setenv("MAILSPHERE_NO_CACHE", "1")
    fresh = load_rules()
    assert _pack_summary(first) == _pack_summary(cached) == _pack_summary(fresh)
    assert entry.exists()


def test_same_files_elsewhere_share_the_entry_with_their_own_paths(cache: Path,
                                                                  tmp_path: Path):
    first, second = tmp_path / "a" / "rules", tmp_path / "b" / "rules"
    for where in (first, second):
        shutil.copytree(ROOT / "tests" / "data" / "minipack", where)
    one = load_rules([first])
    two = load_rules([second])
    assert len(entries(cache, "rulepack")) == 1
    assert one.files == [str(first / "mini.toml")]
    assert two.files == [str(second / "mini.toml")]
    assert _pack_summary(two) == _pack_summary(one).replace(str(first), str(second))


def test_edited_pack_is_not_served_stale(cache: Path, tmp_path: Path):
    pack_dir = tmp_path / "rules"
    shutil.copytree(ROOT / "tests" / "data" / "minipack", pack_dir)
    assert load_rules([pack_dir]).rules["MINI_PRIZE"].score == 6.0
    toml = pack_dir / "mini.toml"
    toml.write_text(toml.read_text().replace("score = 6.0", "score = 4.5", 1))
    assert load_rules([pack_dir]).rules["MINI_PRIZE"].score == 4.5
    toml.write_text(toml.read_text().replace("kind = \"body\"", "kind = \"bogus\"", 1))
    with pytest.raises(RuleError, match=r"mini\.toml: rule MINI_PRIZE: kind must be one of"):
        load_rules([pack_dir])
    with pytest.raises(RuleError, match=r"mini\.toml: rule MINI_PRIZE: kind must be one of"):
        load_rules([pack_dir])  # a bad pack is never cached: the error every time


def test_cached_pack_naming_a_check_no_longer_registered_fails_at_load(cache: Path,
                                                                       tmp_path: Path):
    @check("test_artefacts_probe")
    def _probe(msg, ctx) -> str | None:  # noqa: ARG001
        return None

    pack_dir = tmp_path / "rules"
    pack_dir.mkdir()
    (pack_dir / "probe.toml").write_text(
        '[[rule]]\nid = "PROBE"\nkind = "eval"\nfunction = "test_artefacts_probe"\n'
        'score = 1.0\ngroup = "other"\ndescription = "probe"\n')
    try:
        assert "PROBE" in load_rules([pack_dir]).rules
        assert entries(cache, "rulepack")
    finally:
        CHECKS.pop("test_artefacts_probe")
    with pytest.raises(RuleError, match=r"probe\.toml: rule PROBE: eval function "
                                        r"'test_artefacts_probe' does not exist"):
        load_rules([pack_dir])


def test_damaged_rule_pack_entry_is_rebuilt(cache: Path):
    good = _pack_summary(load_rules([default_rules_dir()]))
    (entry,) = entries(cache, "rulepack")
    damage(entry, "flip")
    assert _pack_summary(load_rules([default_rules_dir()])) == good


def test_yara_from_cache_matches_the_same(cache: Path):
    fresh = compile_rules()
    (entry,) = entries(cache, "yara")
    again = compile_rules()
    assert [m.rule for m in again.scan(EICAR)] == [m.rule for m in fresh.scan(EICAR)] \
        == ["EICAR_Test_File"]
    damage(entry, "truncate")
    assert [m.rule for m in compile_rules().scan(EICAR)] == ["EICAR_Test_File"]
    assert artefacts.read("yara", entry.name[len("yara-"):-len(".bin")]) is not None


def test_model_from_cache_is_the_same_and_checks_still_apply(cache: Path, tmp_path: Path):
    shipped = ROOT / "models" / "default.joblib"
    first = load_model(shipped)
    (entry,) = entries(cache, "model")
    second = load_model(shipped)
    assert (first.weights == second.weights).all() and first.bias == second.bias
    assert first.card == second.card
    damage(entry, "garbage")
    assert (load_model(shipped).weights == first.weights).all()
    broken = tmp_path / "broken.joblib"
    broken.write_bytes(shipped.read_bytes()[:5000])
    for _ in range(2):
        with pytest.raises(ModelError, match="not a readable model file"):
            load_model(broken)


def test_public_suffix_list_from_cache_answers_the_same(cache: Path):
    from mailsphere_cli.perimeter import dmarc
    dmarc._psl.cache_clear()
    try:
        built = dmarc._psl()
        (entry,) = entries(cache, "psl")
        dmarc._psl.cache_clear()
        loaded = dmarc._psl()
        reference = PublicSuffixList()
        for name in ("www.example.co.uk", "a.b.github.io", "mail.example.com", "x.unknowntld",
                     "bücher.example.de", "s3.amazonaws.com"):
            assert loaded.privatesuffix(name) == built.privatesuffix(name) == \
                reference.privatesuffix(name)
            assert loaded.is_public(name) == reference.is_public(name)
        damage(entry, "flip")
        dmarc._psl.cache_clear()
        assert dmarc._psl().privatesuffix("www.example.co.uk") == "example.co.uk"
    finally:
        dmarc._psl.cache_clear()


def test_scan_verdicts_same_with_cold_damaged_and_warm_cache(cli, cache: Path):
    def verdicts() -> list[str]:
        # the small pack: Hyperscan compiles the shipped one for seconds on a cold cache
        records = cli.scan_json(str(SAMPLE / "eml"), "--rescan", "--rules",
                                str(ROOT / "tests" / "data" / "minipack"))
        return sorted(json.dumps({k: v for k, v in r.items() if k not in ("timings_ms",
                                                                          "elapsed_ms")},
                                 sort_keys=True) for r in records)

    cold = verdicts()
    assert {p.name.split("-")[0] for p in cache.iterdir()} >= {"rulepack", "yara", "model"}
    for entry in cache.iterdir():
        damage(entry, "flip")
    assert verdicts() == cold
    assert verdicts() == cold


@pytest.mark.parametrize("universal", [True, False])
def test_parsed_toml_equals_tomllib_and_bad_files_fail_every_time(cache: Path, tmp_path: Path,
                                                                  universal: bool):
    import tomllib
    path = tmp_path / "data.toml"
    lone_cr = b"\rz" if universal else b""  # a lone CR: a line end only when read as text
    path.write_bytes(b'a = 1\r\nb = """x\r\ny' + lone_cr + b'"""\n[t]\nc = ["d"]\n')
    expected = tomllib.loads(path.read_text("utf-8")) if universal else \
        tomllib.load(path.open("rb"))
    for _ in range(2):  # built, then from the cache
        assert artefacts.parsed_toml(path, universal_newlines=universal) == expected
    (entry,) = entries(cache, "toml")
    damage(entry, "flip")
    assert artefacts.parsed_toml(path, universal_newlines=universal) == expected
    path.write_bytes(b"a = = 1\n")
    for _ in range(2):
        with pytest.raises(tomllib.TOMLDecodeError):
            artefacts.parsed_toml(path, universal_newlines=universal)
    path.write_bytes(b"a = '\xff'\n")
    with pytest.raises(UnicodeDecodeError):
        artefacts.parsed_toml(path, universal_newlines=universal)
