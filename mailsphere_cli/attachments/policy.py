"""The banned-attachment policy: data from `rules/attachments.toml`, per-org overridable.

The `[policy]` table holds the defaults; `[policy.orgs.NAME]` replaces any key
for one organisation, and may `allow_*` or `extra_*` entries on top, so an
org that needs ISO images can allow them without copying the whole list.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mailsphere_cli import artefacts
from mailsphere_cli.attachments.filetype import (
    EXPECTED_BY_EXTENSION, FileType, extension_of)
from mailsphere_cli.paths import shipped

DEFAULT_RULES_FILE = shipped("rules", "attachments.toml")

# Which rule a banned true-type category produces.
RULE_FOR_CATEGORY = {
    "executable": "ATTACH_EXECUTABLE",
    "script": "ATTACH_SCRIPT",
    "shortcut": "ATTACH_SHORTCUT",
    "disk_image": "ATTACH_DISK_IMAGE",
    # Not banned by default (an org may ban them): scored, not settled.
    "unix_script": "ATTACH_UNIX_SCRIPT",
    "web_link": "ATTACH_WEB_SHORTCUT",
}
# Categories that are worth a scored finding even when they are allowed.
SCORED_CATEGORIES = frozenset({"unix_script", "web_link"})

# Characters that reorder or hide parts of a displayed file name.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")
_FAKE_DOTS = frozenset("\u2024\uff0e\u3002\ufe52\u2027\u0701\u0702\ua4f8")


@dataclass(frozen=True)
class Limits:
    max_depth: int = 5
    max_members: int = 1000
    max_expanded: int = 100 * 1024 * 1024
    max_ratio: float = 100.0
    ratio_floor: int = 1024 * 1024       # below this size a high ratio is not a bomb
    max_object: int = 50 * 1024 * 1024   # largest single object kept in memory
    max_passwords: int = 20
    yara_timeout: int = 5                # seconds per object
    message_budget: float = 20.0         # seconds for the whole message


@dataclass(frozen=True)
class Policy:
    banned_categories: frozenset[str] = frozenset()
    banned_extensions: frozenset[str] = frozenset()
    decoy_extensions: frozenset[str] = frozenset()
    malicious_rules: frozenset[str] = frozenset()
    limits: Limits = field(default_factory=Limits)
    orgs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def for_org(self, name: str | None) -> "Policy":
        """This policy with the overrides of organisation `name` applied."""
        override = self.orgs.get(name or "")
        if not override:
            return self
        return _apply(self, override)

    # --- the checks; each returns (rule id, detail) pairs ---------------------

    def check_type(self, true_type: FileType) -> list[tuple[str, str]]:
        if true_type.category in self.banned_categories:
            rule = RULE_FOR_CATEGORY.get(true_type.category, "ATTACH_EXECUTABLE")
            return [(rule, f"true type {true_type.label}")]
        if true_type.category in SCORED_CATEGORIES:
            return [(RULE_FOR_CATEGORY[true_type.category], f"true type {true_type.label}")]
        return []

    def check_names(self, names: list[str], true_type: FileType) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        extensions = set()
        for name in names:
            found.extend(self._check_name(name, true_type))
            extensions.add(extension_of(_visible_core(name)))
        extensions.discard("")
        if len(extensions) > 1:
            found.append(("ATTACH_NAME_CONFLICT", "names disagree: " + ", ".join(sorted(extensions))))
        return _unique(found)

    def _check_name(self, name: str, true_type: FileType) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if any(ch in _BIDI_CONTROLS for ch in name):
            found.append(("ATTACH_RTLO_NAME", f"direction control in {name!r}"))
        tricks = _name_tricks(name)
        if tricks:
            found.append(("ATTACH_UNICODE_NAME_TRICK", f"{tricks} in {name!r}"))
        core = _visible_core(name)
        ext = extension_of(core)
        if ext and ext in self.banned_extensions:
            found.append(("ATTACH_BANNED_EXT", f".{ext} in {name!r}"))
        parts = [p.strip().lower() for p in core.split(".")]
        if len(parts) >= 3 and parts[-2] in self.decoy_extensions and ext in self.banned_extensions:
            found.append(("ATTACH_DOUBLE_EXT", f".{parts[-2]}.{ext} in {name!r}"))
        expected = EXPECTED_BY_EXTENSION.get(ext)
        if expected and true_type.known and true_type.label not in expected:
            found.append(("ATTACH_TYPE_MISMATCH", f".{ext} is really {true_type.label}"))
        return found


def _visible_core(name: str) -> str:
    """The name as Windows would act on it: controls and invisibles removed,
    look-alike dots treated as what they pretend not to be (not dots)."""
    cleaned = "".join(ch for ch in name if ch not in _BIDI_CONTROLS and ch not in _INVISIBLE)
    return unicodedata.normalize("NFC", cleaned).strip()


def _name_tricks(name: str) -> str:
    tricks = []
    if any(ch in _INVISIBLE for ch in name):
        tricks.append("invisible character")
    if any(ch in _FAKE_DOTS for ch in name):
        tricks.append("look-alike dot")
    if "     " in name:
        tricks.append("run of spaces hiding the extension")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        tricks.append("control character")
    return ", ".join(tricks)


def _unique(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    return [p for p in pairs if not (p in seen or seen.add(p))]


def _apply(policy: Policy, table: dict[str, Any]) -> Policy:
    def words(key: str) -> frozenset[str]:
        return frozenset(str(v).lower().lstrip(".") for v in table.get(key, ()))

    banned_categories = frozenset(table["banned_categories"]) if "banned_categories" in table \
        else policy.banned_categories
    banned_extensions = words("banned_extensions") if "banned_extensions" in table \
        else policy.banned_extensions
    decoys = words("decoy_extensions") if "decoy_extensions" in table else policy.decoy_extensions
    malicious = frozenset(table["malicious_rules"]) if "malicious_rules" in table \
        else policy.malicious_rules
    banned_categories = (banned_categories | frozenset(table.get("extra_banned_categories", ()))) \
        - frozenset(table.get("allow_categories", ()))
    banned_extensions = (banned_extensions | words("extra_banned_extensions")) - words("allow_extensions")
    malicious = (malicious | frozenset(table.get("extra_malicious_rules", ()))) \
        - frozenset(table.get("allow_rules", ()))
    limits = policy.limits
    known = set(Limits.__dataclass_fields__)
    limit_values = {k: v for k, v in table.get("limits", {}).items() if k in known}
    if limit_values:
        limits = replace(limits, **limit_values)
    return replace(policy, banned_categories=banned_categories, banned_extensions=banned_extensions,
                   decoy_extensions=decoys, malicious_rules=malicious, limits=limits)


def load_policy(path: str | Path | None = None) -> Policy:
    """Read the `[policy]` table of the attachment rules file."""
    source = Path(path) if path else DEFAULT_RULES_FILE
    data = artefacts.parsed_toml(source, universal_newlines=False)
    table = data.get("policy", {})
    unknown_limits = set(table.get("limits", {})) - set(Limits.__dataclass_fields__)
    if unknown_limits:
        raise ValueError(f"{source}: unknown [policy.limits] keys: {sorted(unknown_limits)}")
    base = _apply(Policy(), table)
    return replace(base, orgs=dict(table.get("orgs", {})))
