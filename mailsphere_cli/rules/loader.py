"""Load rule packs from TOML, check them, and compile them for matching.

Every problem is found at load time and reported with the file, the rule id
and the reason: a pattern the fast engine cannot compile, an eval function
that does not exist, a meta rule naming a missing rule, a cycle.
"""
from __future__ import annotations

import hashlib
import sys
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mailsphere_cli.rules import expr
from mailsphere_cli.rules.checks import CHECKS, load_all
from mailsphere_cli.paths import shipped

KINDS = ("header", "body", "rawbody", "uri", "html", "full", "eval", "meta")
GROUPS = ("sender", "ip", "auth", "mime", "received", "content", "subject", "url",
          "attachment", "html", "header", "list", "classifier", "limits", "body", "other")
_FLAG_CHARS = set("ims")
_FIELDS = {"id", "kind", "target", "pattern", "flags", "function", "args", "expr", "score",
           "group", "description", "tags", "network"}


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    score: float
    group: str
    description: str
    file: str
    target: str = ""
    pattern: str = ""
    flags: str = ""
    function: str = ""
    args: dict[str, Any] = field(default_factory=dict)
    expr: str = ""
    tags: tuple[str, ...] = ()

    @property
    def regex(self) -> str:
        """The pattern with its flags inlined, as both engines take it."""
        return f"(?{self.flags}){self.pattern}" if self.flags else self.pattern

    def definition(self) -> str:
        if self.kind == "eval":
            args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
            return f"eval:{self.function}({args})"
        if self.kind == "meta":
            return self.expr
        target = f" {self.target}" if self.target else ""
        flags = f" /{self.flags}" if self.flags else ""
        return f"{self.kind}{target} =~ /{self.pattern}/{flags}"


def default_rules_dir() -> Path:
    return shipped("rules")


def _fail(path: Path, rule_id: str, reason: str) -> RuleError:
    where = f"{path}" + (f": rule {rule_id}" if rule_id else "")
    return RuleError(f"{where}: {reason}")


def _parse_rule(entry: Any, path: Path) -> Rule:
    if not isinstance(entry, dict):
        raise _fail(path, "", "each [[rule]] must be a table")
    rule_id = entry.get("id")
    if not isinstance(rule_id, str) or not rule_id.replace("_", "").isalnum() \
            or rule_id.upper() != rule_id:
        raise _fail(path, str(rule_id), "id must be UPPER_SNAKE_CASE letters, digits and _")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise _fail(path, rule_id, f"unknown field(s) {', '.join(sorted(unknown))}")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise _fail(path, rule_id, f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    score = entry.get("score")
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        raise _fail(path, rule_id, "score must be a number")
    group = entry.get("group", "other")
    if group not in GROUPS:
        raise _fail(path, rule_id, f"group must be one of {', '.join(GROUPS)}, not {group!r}")
    description = entry.get("description", "")
    if not isinstance(description, str) or not description.strip():
        raise _fail(path, rule_id, "description is missing")
    tags = entry.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _fail(path, rule_id, "tags must be a list of strings")
    flags = entry.get("flags", "")
    if not isinstance(flags, str) or set(flags) - _FLAG_CHARS:
        raise _fail(path, rule_id, "flags may hold only i, m and s")
    values: dict[str, Any] = dict(id=rule_id, kind=kind, score=float(score), group=group,
                                  description=description.strip(), file=path.name,
                                  tags=tuple(tags), flags=flags)
    if kind == "eval":
        function = entry.get("function")
        if not isinstance(function, str) or not function:
            raise _fail(path, rule_id, "an eval rule needs `function`")
        args = entry.get("args", {})
        if not isinstance(args, dict):
            raise _fail(path, rule_id, "args must be a table")
        values.update(function=function, args=args)
    elif kind == "meta":
        text = entry.get("expr")
        try:
            expr.parse(text)
        except expr.ExprError as exc:
            raise _fail(path, rule_id, f"bad expr: {exc}") from None
        values["expr"] = text
    else:
        pattern = entry.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise _fail(path, rule_id, f"a {kind} rule needs `pattern`")
        target = entry.get("target", "")
        if kind == "header" and not target:
            raise _fail(path, rule_id, "a header rule needs `target` (a header name or ALL)")
        values.update(pattern=pattern, target=target)
    return Rule(**values)


@dataclass
class RulePack:
    rules: dict[str, Rule]
    version: str
    files: list[str]
    meta_order: list[Rule]
    decisions: list[Any] = field(default_factory=list)

    def by_kind(self, kind: str) -> list[Rule]:
        return [r for r in self.rules.values() if r.kind == kind]


def _meta_order(rules: dict[str, Rule]) -> list[Rule]:
    """Metas in an order where each comes after the metas it reads; cycles are errors."""
    metas = {r.id: r for r in rules.values() if r.kind == "meta"}
    order: list[Rule] = []
    state: dict[str, int] = {}

    def visit(rule_id: str, trail: list[str]) -> None:
        if state.get(rule_id) == 2:
            return
        if state.get(rule_id) == 1:
            cycle = " -> ".join(trail[trail.index(rule_id):] + [rule_id])
            raise RuleError(f"{metas[rule_id].file}: rule {rule_id}: meta cycle {cycle}")
        state[rule_id] = 1
        for ref in sorted(expr.references(expr.parse(metas[rule_id].expr))):
            if ref not in rules:
                raise RuleError(f"{metas[rule_id].file}: rule {rule_id}: names unknown rule "
                                f"{ref}")
            if ref in metas:
                visit(ref, trail + [rule_id])
        state[rule_id] = 2
        order.append(metas[rule_id])

    for rule_id in sorted(metas):
        visit(rule_id, [])
    return order


def _compile_check(rule: Rule, path: Path) -> None:
    import re2
    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(rule.regex, options)
    except Exception as exc:  # noqa: BLE001 - the binding raises its own error type
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise _fail(path, rule.id, f"pattern does not compile under RE2: {reason}") from None


def rule_files(dirs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for directory in dirs:
        if not directory.is_dir():
            raise RuleError(f"{directory}: rules directory does not exist")
        files += sorted(p for p in directory.glob("*.toml") if p.name != "decisions.toml")
    return files


def load_rules(dirs: list[str | Path] | None = None) -> RulePack:
    """The checked pack of `dirs` (default: the shipped rules/). Parsing and checking the
    shipped pack cost every start ~0.15 s of CPU (TOML, an RE2 compile per pattern); a
    pack built from the same files by the same code is taken from the artefact cache
    instead. Eval functions are looked up again on every load, as test modules and
    plug-ins register their own; any problem rebuilds the pack, which reports it."""
    from mailsphere_cli import artefacts
    from mailsphere_cli.rules import decisions

    directories = [Path(d) for d in (dirs or [default_rules_dir()])]
    load_all()
    files = rule_files(directories)
    decision_files = [d / "decisions.toml" for d in directories if (d / "decisions.toml").is_file()]

    def build() -> RulePack:
        return _load(directories, files, decision_files)

    try:
        import re2
        parts = [p.name for p in files + decision_files] + artefacts.files_digest(
            files + decision_files, names=False) + artefacts.source_of(
            sys.modules[__name__], decisions, expr) + artefacts.stamps(re2, re2._re2)
    except OSError:
        return build()
    pack = artefacts.cached("rulepack", parts, build, check=_usable)
    # The same files elsewhere (another checkout) make the same pack: only the paths differ.
    pack.files = [str(p) for p in files + decision_files]
    return pack


def _usable(pack: Any) -> bool:
    return isinstance(pack, RulePack) and all(
        rule.function in CHECKS for rule in pack.rules.values() if rule.kind == "eval")


def _load(directories: list[Path], files: list[Path], decision_files: list[Path]) -> RulePack:
    from mailsphere_cli.rules import decisions
    rules: dict[str, Rule] = {}
    overrides: dict[str, tuple[float, Path]] = {}
    digest = hashlib.sha256()
    for path in files:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise RuleError(f"{path}: not valid TOML: {exc}") from None
        for entry in data.get("rule", []):
            rule = _parse_rule(entry, path)
            if rule.id in rules:
                raise _fail(path, rule.id, f"id already defined in {rules[rule.id].file}")
            if rule.kind == "eval" and rule.function not in CHECKS:
                raise _fail(path, rule.id, f"eval function {rule.function!r} does not exist")
            if rule.kind not in ("eval", "meta"):
                _compile_check(rule, path)
            rules[rule.id] = rule
        for rule_id, score in (data.get("scores") or {}).items():
            if not isinstance(score, (int, float)) or isinstance(score, bool):
                raise _fail(path, rule_id, "score override must be a number")
            overrides[rule_id] = (float(score), path)
    for rule_id, (score, path) in overrides.items():
        if rule_id not in rules:
            raise _fail(path, rule_id, "score override for a rule that does not exist")
        rules[rule_id] = replace(rules[rule_id], score=score)
    meta_order = _meta_order(rules)
    pack = RulePack(rules, digest.hexdigest()[:12], [str(p) for p in files], meta_order)
    for path in decision_files:
        raw = path.read_bytes()
        digest.update(b"decisions\0" + raw)
        pack.decisions.extend(decisions.load_rows(path, rules))
    pack.version = digest.hexdigest()[:12]
    pack.files += [str(p) for p in decision_files]
    return pack
