"""The classifier's probability bands.

The classifier stage runs after the rule stage and adds the hit of the band
that holds the message's spam probability itself; this check is what the band
rules name so that they are ordinary data (id, band, score) in
`rules/classifier.toml`. Run before the classifier (in the rule stage) it never
fires: there is no probability yet, and the engine leaves it out (`requires`).
"""
from __future__ import annotations

from mailsphere_cli.rules.checks import batch, check


@check("classifier_band", requires="spam_probability")
def classifier_band(msg, ctx, low: float, high: float) -> str | None:
    probability = getattr(ctx, "spam_probability", None)
    if probability is None:
        return None
    if low <= probability < high or (high >= 1.0 and probability >= low):
        return f"spam probability {probability:.3f}"
    return None


@batch("classifier_band")
def classifier_band_batch(msg, ctx, args_list: list[dict]) -> list[str | None]:
    if getattr(ctx, "spam_probability", None) is None:
        return [None] * len(args_list)
    return [classifier_band(msg, ctx, **args) for args in args_list]
