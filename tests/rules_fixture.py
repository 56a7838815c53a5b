"""Build small test messages from a clean template plus a per-case snippet.

A case (tests/rule_fixtures/cases.toml) names a rule and changes the
template: `set` replaces or (with "") removes headers, `add` appends raw
header lines, `body` replaces the plain text, `html` adds an HTML version
(`html_only` drops the text), `raw` replaces the whole message.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

CASES = Path(__file__).parent / "rule_fixtures" / "cases.toml"
DATE = "Mon, 05 Jan 2026 10:15:00 +0000"
TEMPLATE_HEADERS = [
    ("Return-Path", "<alice@example.org>"),
    ("Received", "from mx1.example.com (mx1.example.com [192.0.2.25]) by mail.example.com "
                 f"(Postfix) with ESMTP id A1B2C3 for <bob@example.com>; {DATE}"),
    ("Received", "from mail.example.org (mail.example.org [198.51.100.7]) by mx1.example.com "
                 f"(Postfix) with ESMTPS id D4E5F6 for <bob@example.com>; {DATE}"),
    ("From", "Alice Example <alice@example.org>"),
    ("To", "Bob Example <bob@example.com>"),
    ("Subject", "Minutes of the Tuesday meeting"),
    ("Date", DATE),
    ("Message-ID", "<20260105101500.ABC123@mail.example.org>"),
    ("MIME-Version", "1.0"),
]
TEMPLATE_BODY = ("Hello Bob,\n\nthe minutes of Tuesday's meeting are below. We agreed to move the\n"
                 "release to the second week of February and to review the test plan on\n"
                 "Thursday.\n\nBest regards,\nAlice\n")


def load_cases() -> list[dict[str, Any]]:
    return tomllib.loads(CASES.read_text("utf-8")).get("case", [])


def build(case: dict[str, Any]) -> bytes:
    if "raw" in case:
        return case["raw"].replace("\n", "\r\n").encode("utf-8")
    headers = list(TEMPLATE_HEADERS)
    for name, value in (case.get("set") or {}).items():
        headers = [(n, v) for n, v in headers if n.lower() != name.lower()]
        if value != "":
            headers.append((name, value))
    lines = [f"{n}: {v}" for n, v in headers] + list(case.get("add", []))
    text = case.get("body", TEMPLATE_BODY)
    html = case.get("html")
    if html is None:
        if not any(line.lower().startswith("content-type:") for line in lines):
            lines.append("Content-Type: text/plain; charset=utf-8")
        body = text
    elif case.get("html_only"):
        lines.append("Content-Type: text/html; charset=utf-8")
        body = html
    else:
        lines.append('Content-Type: multipart/alternative; boundary="b0undary42"')
        body = ("--b0undary42\nContent-Type: text/plain; charset=utf-8\n\n" + text +
                "\n--b0undary42\nContent-Type: text/html; charset=utf-8\n\n" + html +
                "\n--b0undary42--\n")
    return ("\n".join(lines) + "\n\n" + body).encode("utf-8")
