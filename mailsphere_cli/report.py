"""Statistics over what the store holds, with pandas."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Report:
    since: datetime | None
    messages: int
    actions: pd.DataFrame
    rules: pd.DataFrame
    senders: pd.DataFrame
    orgs: pd.DataFrame

    def as_dict(self) -> dict:
        return {
            "since": self.since.isoformat() if self.since else None,
            "messages": self.messages,
            "actions": self.actions.to_dict(orient="records"),
            "top_rules": self.rules.to_dict(orient="records"),
            "top_senders": self.senders.to_dict(orient="records"),
            "orgs": self.orgs.to_dict(orient="records"),
        }


def build_report(db_path: Path, since: datetime | None, top: int = 10) -> Report:
    import pandas as pd  # here, not at the top: it costs every other command ~0.5 s to import

    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        where, params = ("WHERE scanned_at >= ?", (since.isoformat(timespec="seconds"),)) \
            if since else ("", ())
        # The latest record of each message (a rescan with a new rule pack supersedes the old).
        messages = pd.read_sql_query(
            f"SELECT id, rulepack, sender, org, action, score, scanned_at FROM messages {where} "
            "ORDER BY scanned_at", db, params=params)
        # The hits of each message, read from its verdict (what the `hits` view does, without
        # joining the messages a second time); the data directory may predate the view.
        hits = pd.read_sql_query(
            "SELECT m.id AS message_id, m.rulepack, json_extract(h.value, '$.rule') AS rule, "
            "CAST(json_extract(h.value, '$.score') AS REAL) AS score FROM messages AS m, "
            "json_each(m.verdict, '$.hits') AS h WHERE json_valid(m.verdict) "
            + ("AND m.scanned_at >= ?" if since else ""), db, params=params)
    finally:
        db.close()
    latest = messages.drop_duplicates("id", keep="last")
    total = len(latest)
    actions = (latest.groupby("action").size().rename("messages").reset_index()
               .sort_values("messages", ascending=False))
    actions["share_%"] = (actions["messages"] * 100 / max(total, 1)).round(1)
    keep = set(zip(latest["id"], latest["rulepack"]))
    if not hits.empty:
        hits = hits[[k in keep for k in zip(hits["message_id"], hits["rulepack"])]]
    rules = (hits.groupby("rule").agg(messages=("message_id", "nunique"), score=("score", "max"))
             .reset_index().sort_values(["messages", "rule"], ascending=[False, True]).head(top)
             if not hits.empty else pd.DataFrame(columns=["rule", "messages", "score"]))
    flagged = latest[latest["action"].isin(["spam", "malicious", "reject"])]
    senders = (latest.assign(sender=latest["sender"].replace("", "(none)"),
                             flagged=latest["action"].isin(["spam", "malicious", "reject"]))
               .groupby("sender").agg(messages=("id", "size"), flagged=("flagged", "sum"))
               .reset_index().sort_values(["flagged", "messages"], ascending=False).head(top))
    senders["flagged"] = senders["flagged"].astype(int)
    orgs = (latest.assign(org=latest["org"].fillna("(none)"))
            .groupby(["org", "action"]).size().rename("messages").reset_index())
    del flagged
    return Report(since, total, actions.reset_index(drop=True), rules.reset_index(drop=True),
                  senders.reset_index(drop=True), orgs)


def report_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, default=str)
