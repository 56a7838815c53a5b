"""HTML and SVG attachments: smuggling, credential forms, redirects, SVG script.

An HTML *attachment* is a local page the user opens from disk: it has no
business building files, asking for passwords or sending the browser away.
Only the first MAX_HTML bytes are looked at; patterns are linear regexes.
"""
from __future__ import annotations

import re

Finding = tuple[str, str]

MAX_HTML = 8 * 1024 * 1024

_BLOB = re.compile(r"new\s+Blob\s*\(|\bBlob\s*\(\s*\[", re.I)
_SAVE = re.compile(r"msSaveOrOpenBlob|msSaveBlob|URL\.createObjectURL|createObjectURL\s*\(", re.I)
_DOWNLOAD = re.compile(r"\.download\s*=|\bdownload\s*=\s*[\"']|setAttribute\s*\(\s*[\"']download", re.I)
_DECODE = re.compile(r"\batob\s*\(|Uint8Array|charCodeAt\s*\(|fromCharCode", re.I)
_CLICK = re.compile(r"\.click\s*\(\s*\)|dispatchEvent\s*\(", re.I)
_DATA_DOWNLOAD = re.compile(r"<a\b[^>]{0,500}\bhref\s*=\s*[\"']data:[^\"']{0,100};base64,[^>]{0,400}\bdownload\b"
                            r"|<a\b[^>]{0,500}\bdownload\b[^>]{0,400}\bhref\s*=\s*[\"']data:[^\"']{0,100};base64",
                            re.I | re.S)
_PASSWORD_INPUT = re.compile(r"<input\b[^>]{0,400}\btype\s*=\s*[\"']?password", re.I | re.S)
_FORM_ACTION = re.compile(r"<form\b[^>]{0,800}\baction\s*=\s*[\"']?([^\"'\s>]+)", re.I | re.S)
_META_REFRESH = re.compile(
    r"<meta\b[^>]{0,300}http-equiv\s*=\s*[\"']?refresh[^>]{0,300}content\s*=\s*[\"']?\s*\d*\s*;?\s*url\s*=\s*"
    r"[\"']?((?:https?:)?//[^\"'\s>]+)", re.I | re.S)
_JS_REDIRECT = re.compile(r"(?:window|document|top)\.location(?:\.href)?\s*=\s*[\"'](https?://[^\"']+)"
                          r"|location\.replace\s*\(\s*[\"'](https?://[^\"']+)", re.I)
_SVG_ACTIVE = re.compile(r"<script\b|<foreignObject\b|\bon(?:load|click|mouseover)\s*=|javascript:", re.I)


def analyse(data: bytes, label: str) -> list[Finding]:
    text = data[:MAX_HTML].decode("utf-8", "replace")
    findings: list[Finding] = []
    smuggling = _smuggling(text)
    if smuggling:
        findings.append(("HTML_SMUGGLING", smuggling))
    if _PASSWORD_INPUT.search(text):
        action = _FORM_ACTION.search(text)
        target = action.group(1)[:200] if action else "no action (script posts it)"
        findings.append(("HTML_CREDENTIAL_FORM", f"password field, form action {target}"))
    refresh = _META_REFRESH.search(text)
    if refresh:
        findings.append(("HTML_META_REFRESH_EXTERNAL", f"meta refresh to {refresh.group(1)[:200]}"))
    else:
        redirect = _JS_REDIRECT.search(text)
        if redirect:
            findings.append(("HTML_META_REFRESH_EXTERNAL",
                             f"script redirect to {(redirect.group(1) or redirect.group(2))[:200]}"))
    if label == "svg" and _SVG_ACTIVE.search(text):
        findings.append(("HTML_SVG_SCRIPT", "SVG with script, foreignObject or event handlers"))
    return findings


def _smuggling(text: str) -> str:
    if _DATA_DOWNLOAD.search(text):
        return "download link with an embedded base64 file"
    if not _BLOB.search(text):
        return ""
    signs = []
    if _SAVE.search(text):
        signs.append("saves or links the Blob")
    if _DOWNLOAD.search(text):
        signs.append("sets a download name")
    if _DECODE.search(text):
        signs.append("decodes embedded data")
    if _CLICK.search(text):
        signs.append("clicks it by script")
    # A Blob alone is ordinary web code; built from decoded data and handed
    # to the user as a download, it is a file delivered past the gateway.
    if len(signs) >= 3 or ("saves or links the Blob" in signs and "sets a download name" in signs):
        return "Blob " + ", ".join(signs)
    return ""
