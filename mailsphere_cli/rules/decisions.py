"""Decision tables: rows over combinations of hits that change the score or the action.

Evaluated after every rule and the classifier, in file order, all against the
same picture (the hits and the score before any row applied), so the order of
rows never changes the outcome. Each row that fires can add to the score,
force an action, and name hits whose weight it consumes; removals are applied
once all rows have been evaluated.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailsphere_cli.rules import expr
from mailsphere_cli.verdict import Action

_FIELDS = {"id", "when", "add", "action", "remove", "description", "tags"}


@dataclass(frozen=True)
class Row:
    id: str
    when: str
    node: expr.Node
    add: float
    action: Action | None
    remove: tuple[str, ...]
    description: str
    file: str

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"row": self.id, "when": self.when, "description": self.description}
        if self.add:
            out["add"] = self.add
        if self.action:
            out["action"] = self.action.value
        if self.remove:
            out["remove"] = list(self.remove)
        return out


class DecisionError(ValueError):
    pass


def load_rows(path: Path, rules: dict[str, Any]) -> list[Row]:
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DecisionError(f"{path}: not valid TOML: {exc}") from None
    rows: list[Row] = []
    seen: set[str] = set()
    for entry in data.get("row", []):
        row_id = entry.get("id", "?")
        where = f"{path}: row {row_id}"
        if set(entry) - _FIELDS:
            raise DecisionError(f"{where}: unknown field(s) {', '.join(sorted(set(entry) - _FIELDS))}")
        if row_id in seen:
            raise DecisionError(f"{where}: id used twice")
        seen.add(row_id)
        try:
            node = expr.parse(entry.get("when", ""))
        except expr.ExprError as exc:
            raise DecisionError(f"{where}: bad `when`: {exc}") from None
        for ref in expr.references(node):
            if ref not in rules:
                raise DecisionError(f"{where}: names unknown rule {ref}")
        action = entry.get("action")
        if action is not None:
            try:
                action = Action(action)
            except ValueError:
                raise DecisionError(f"{where}: action must be deliver, spam, malicious or "
                                    f"reject") from None
        remove = tuple(entry.get("remove", []))
        for ref in remove:
            if not ref.startswith("group:") and ref not in rules:
                raise DecisionError(f"{where}: removes unknown rule {ref}")
        add = entry.get("add", 0.0)
        if not isinstance(add, (int, float)) or isinstance(add, bool):
            raise DecisionError(f"{where}: add must be a number")
        if not entry.get("description"):
            raise DecisionError(f"{where}: description is missing")
        if not (add or action or remove):
            raise DecisionError(f"{where}: a row needs an effect (add, action or remove)")
        rows.append(Row(row_id, entry["when"], node, float(add), action, remove,
                        entry["description"], path.name))
    return rows


def rows_using(rows: list[Row], rule_id: str) -> list[Row]:
    return [r for r in rows if rule_id in expr.references(r.node) or rule_id in r.remove]
