"""The per-message context that stages fill in, in pipeline order."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mailsphere_cli.verdict import Action, Hit, Skip

if TYPE_CHECKING:
    from mailsphere_cli.config import Config, OrgConfig
    from mailsphere_cli.message import ParsedMessage


@dataclass(slots=True)
class Forced:
    """A stage (or decision row) that settles the action whatever the score."""

    action: Action
    stage: str
    reason: str


@dataclass
class Context:
    msg: "ParsedMessage"
    config: "Config"
    org: "OrgConfig | None" = None
    offline: bool = True
    # Filled by the perimeter stage: the relay chain (list of Relay records),
    # the handover hop's index into it, and the authentication record.
    relays: list[Any] = field(default_factory=list)
    handover: int | None = None
    auth: dict[str, Any] = field(default_factory=dict)
    # Filled by the attachments stage: one JSON-ready record per object looked at.
    attachments: list[dict[str, Any]] = field(default_factory=list)
    # Filled by the lists stage: "whitelisted" lets scoring be skipped.
    listed: dict[str, Any] = field(default_factory=dict)
    # Filled by the classifier stage.
    spam_probability: float | None = None
    # The rule stage's pattern hits when its prepare ran them ahead for a batch.
    pattern_hits: list[Hit] | None = None
    # The classifier's tokens when its prepare made them ahead for a batch.
    classifier_tokens: list[str] | None = None
    hits: list[Hit] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    forced: list[Forced] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    score_adjust: float = 0.0
    removed: set[str] = field(default_factory=set)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Stages that later stages may consult: resolver (None offline), yara rules...
    services: dict[str, Any] = field(default_factory=dict)

    def add(self, hit: Hit) -> None:
        self.hits.append(hit)

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append(Skip(name, reason))

    def force(self, action: Action, stage: str, reason: str) -> None:
        self.forced.append(Forced(action, stage, reason))

    def hit_ids(self) -> set[str]:
        return {h.rule for h in self.hits}
