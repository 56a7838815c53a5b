"""The classifier stage: a linear model over the mail's own words turns into one banded rule hit.

    build_services(config, model_path, data_dir=None) -> {"classifier": Models}   (once per worker)
    run(msg, ctx)   stores ctx.spam_probability and adds one CLASSIFIER_<band> hit

Which model scores a message: the organisation's own (`<data_dir>/models/<org>.joblib`,
made by `mailsphere train classifier --org NAME`) when the recipient's organisation
has one, else `--model FILE`, else `<data_dir>/models/default.joblib` (made by
`mailsphere train classifier` without --org), else the shipped `models/default.joblib`. A model
that cannot be used (damaged, made by an incompatible version) is never a crash:
the stage is listed in `skipped` with the reason and the scan goes on.

The band boundaries and their scores are data: the `classifier_band` rules in
`rules/classifier.toml`. The stage picks the rule whose band holds the probability.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailsphere_cli.classifier.features import tokens_of
from mailsphere_cli.classifier.model import LinearModel, ModelError, load_model
from mailsphere_cli.verdict import Hit
from mailsphere_cli.paths import shipped

if TYPE_CHECKING:
    from mailsphere_cli.config import Config
    from mailsphere_cli.context import Context
    from mailsphere_cli.message import ParsedMessage

__all__ = ["run", "prepare", "build_services", "Models", "default_model_path", "org_model_path",
           "ModelError", "load_model", "BANDS"]

# Used only when no rule pack is loaded at all (the stage run on its own, in tools and
# tests). A loaded pack without classifier_band rules (a custom --rules dir) gets no
# band hit: the probability is still stored in ctx.spam_probability.
BANDS: tuple[tuple[str, float, float], ...] = (
    ("CLASSIFIER_00_01", 0.0, 0.01), ("CLASSIFIER_01_05", 0.01, 0.05),
    ("CLASSIFIER_05_20", 0.05, 0.20), ("CLASSIFIER_20_50", 0.20, 0.50),
    ("CLASSIFIER_50_80", 0.50, 0.80), ("CLASSIFIER_80_95", 0.80, 0.95),
    ("CLASSIFIER_95_99", 0.95, 0.99), ("CLASSIFIER_99_100", 0.99, 1.0001),
)


def default_model_path() -> Path:
    return shipped("models", "default.joblib")


def default_data_dir() -> Path:
    return Path(os.environ.get("MAILSPHERE_HOME") or ".mailsphere")


def org_model_path(data_dir: str | Path | None, org: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in org).lstrip(".") or "_"
    return Path(data_dir or default_data_dir()) / "models" / f"{safe}.joblib"


@dataclass
class Models:
    """The models one worker scores with, loaded once; problems kept as skip reasons."""

    default: LinearModel | None = None
    default_name: str = ""
    default_problem: str = "no model"
    by_org: dict[str, LinearModel] = field(default_factory=dict)
    org_problems: dict[str, str] = field(default_factory=dict)
    # The band rules of the rule pack last seen, worked out once per worker:
    # (the compiled pack they came from, the bands).
    bands_seen: tuple[Any, list[tuple[str, float, float]]] | None = None

    def bands(self, ctx: "Context") -> list[tuple[str, float, float]]:
        compiled = ctx.services.get("rules")
        if self.bands_seen is None or self.bands_seen[0] is not compiled:
            self.bands_seen = (compiled, band_rules(ctx))
        return self.bands_seen[1]

    def for_org(self, org: str | None) -> tuple[LinearModel | None, str]:
        """(model, its name) or (None, why there is none)."""
        if org and org in self.org_problems:
            return None, self.org_problems[org]
        if org and org in self.by_org:
            return self.by_org[org], f"model of {org}"
        if self.default is None:
            return None, self.default_problem
        return self.default, self.default_name


def build_services(config: "Config", model_path: str | None, data_dir: str | Path | None = None
                   ) -> dict[str, Any]:
    models = Models()
    local_default = org_model_path(data_dir, "default")
    path = Path(model_path) if model_path else (
        local_default if local_default.exists() else default_model_path())
    if model_path or path.exists():
        try:
            models.default = load_model(path)
            models.default_name = f"model {path.name}" if model_path else (
                "local default model" if path == local_default else "shipped default model")
        except ModelError as exc:
            models.default_problem = f"model not usable: {exc}"
    else:
        models.default_problem = f"no model: {path} is missing"
    for name in getattr(config, "orgs", {}) or {}:
        own = org_model_path(data_dir, name)
        if not own.exists():
            continue
        try:
            models.by_org[name] = load_model(own)
        except ModelError as exc:
            models.org_problems[name] = f"model of {name} not usable: {exc}"
    return {"classifier": models}


def band_rules(ctx: "Context") -> list[tuple[str, float, float]]:
    compiled = ctx.services.get("rules")
    pack = getattr(compiled, "pack", None)
    if pack is None:
        return list(BANDS)
    bands = []
    for rule in getattr(pack, "rules", {}).values():
        if rule.kind == "eval" and rule.function == "classifier_band":
            try:
                bands.append((rule.id, float(rule.args["low"]), float(rule.args["high"])))
            except (KeyError, TypeError, ValueError):
                continue
    return sorted(bands, key=lambda b: b[1])


def band_for(probability: float, bands: list[tuple[str, float, float]]) -> str | None:
    for rule_id, low, high in bands:
        if low <= probability < high or (high >= 1.0 and probability >= low):
            return rule_id
    return None


def prepare(msg: "ParsedMessage", ctx: "Context") -> None:
    """The tokens, made ahead for every message of a batch (workers.scan_batch) before
    `run` meets any of them: the scoring's numpy calls then follow one another from
    message to message with their code and data still in the CPU caches (between two
    tokenisations each call cost several times as much), and so do the tokens' own."""
    models = ctx.services.get("classifier")
    if models is not None and models.for_org(ctx.org.name if ctx.org else None)[0] is not None:
        ctx.classifier_tokens = tokens_of(msg)


# Run ahead over a whole batch by workers.scan_batch (Pipeline.prepare_stage)
PREPARE = (prepare,)


def run(msg: "ParsedMessage", ctx: "Context") -> None:
    models = ctx.services.get("classifier")
    if models is None:  # a pipeline built without build_services (tests, tools)
        models = build_services(ctx.config, None)["classifier"]
        ctx.services["classifier"] = models
    org = ctx.org.name if ctx.org else None
    model, name = models.for_org(org)
    if model is None:
        ctx.skip("classifier", name)
        return
    tokens = ctx.classifier_tokens
    if tokens is None:
        tokens = tokens_of(msg)
    else:
        ctx.classifier_tokens = None
    probability = model.probability(tokens)
    ctx.spam_probability = probability
    rule_id = band_for(probability, models.bands(ctx))
    if rule_id:
        ctx.add(Hit(rule_id, f"spam probability {probability:.3f} ({name})"))
