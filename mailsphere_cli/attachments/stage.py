"""The attachments stage: find every object, know what it is, look inside, decide.

For each object (MIME parts, archive members, embedded files...) one JSON-ready
record goes to `ctx.attachments` and each finding becomes a `Hit` whose
evidence names the object's path and SHA-256. Findings listed as malicious in
the policy settle the message as malicious; the rest are scored by the rules.
"""
from __future__ import annotations

import hashlib
import mimetypes
import time
from dataclasses import dataclass, field
from typing import Any

from mailsphere_cli.attachments import archives, extract, html, office, pdf
from mailsphere_cli.attachments.filetype import ARCHIVE_LABELS, detect
from mailsphere_cli.attachments.policy import Policy
from mailsphere_cli.attachments.yara_scan import YaraScanner, YaraTimeout
from mailsphere_cli.verdict import Action, Hit

STAGE = "attachments"
OFFICE_LABELS = frozenset({"doc", "xls", "ppt", "ole", "ole-macro", "docx", "xlsx", "pptx",
                           "docm", "xlsm", "pptm", "ooxml", "odf", "rtf", "onenote"})


def run(msg: Any, ctx: Any) -> None:
    objects = extract.find_objects(msg)
    if not objects:  # plain text mail (most of it): no session to set up
        return
    policy = _policy(ctx)
    session = Session(ctx, policy, ctx.services.get("yara"),
                      extract.LazyPasswords(msg, policy.limits.max_passwords))
    for found in objects:
        session.analyse(found.data, found.names, found.declared_type,
                        found.display_name, depth=0, source=found.source,
                        origin_findings=found.findings)
    session.decide()


def _policy(ctx: Any) -> Policy:
    policy = ctx.services.get("attachment_policy")
    if policy is None:
        from mailsphere_cli.attachments import default_services

        policy = default_services()["attachment_policy"]
        ctx.services.setdefault("attachment_policy", policy)
        ctx.services.setdefault("yara", default_services()["yara"])
    org = getattr(ctx, "org", None)
    return policy.for_org(getattr(org, "name", None))


@dataclass
class Session:
    ctx: Any
    policy: Policy
    scanner: YaraScanner | None
    passwords: Any  # a sequence of candidates, computed on first use
    budget: archives.Budget = field(init=False)
    started: float = field(default_factory=time.monotonic)
    out_of_time: bool = False
    malicious: list[str] = field(default_factory=list)
    seen: dict[str, tuple[str, list[tuple[str, str]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.budget = archives.Budget(self.policy.limits)

    def analyse(self, data: bytes, names: list[str], declared_type: str, path: str, *,
                depth: int, source: str, origin_findings: list[tuple[str, str]] = (),
                truncated: bool = False) -> dict[str, Any]:
        sha256 = hashlib.sha256(data).hexdigest()
        true_type = detect(data)
        record: dict[str, Any] = {
            "name": names[0] if names else path.rsplit("/", 1)[-1],
            "names": list(names),
            "declared_type": declared_type,
            "true_type": true_type.label,
            "size": len(data),
            "sha256": sha256,
            "path": path,
            "source": source,
            "findings": [],
        }
        if truncated:
            record["truncated"] = True
        self.ctx.attachments.append(record)
        found: list[tuple[str, str]] = list(origin_findings)
        found += self.policy.check_type(true_type)
        if names:
            found += self.policy.check_names(names, true_type)
        if depth > 0 and true_type.category == "archive":
            found.append(("ATTACH_ARCHIVE_NESTED", f"{true_type.label} inside another object"))
        previous = self.seen.get(sha256)
        if previous is not None:
            # Same bytes already analysed in this message (42.zip repeats one
            # member sixteen times a level): reuse what the content showed.
            record["same_as"] = previous[0]
            found += previous[1]
        elif self._time_left():
            content = self._look_inside(data, true_type.label, true_type.category, path, depth, names)
            content += self._yara(data, path)
            self.seen[sha256] = (path, content)
            found += content
        for rule, detail in found:
            self._record(record, rule, detail)
        return record

    # --- inside the object ---------------------------------------------------

    def _look_inside(self, data: bytes, label: str, category: str, path: str, depth: int,
                     names: list[str]) -> list[tuple[str, str]]:
        if label in ARCHIVE_LABELS:
            return self._expand(data, label, path, depth, names)
        if category == "archive":
            return [("ATTACH_ARCHIVE_UNSUPPORTED", f"{label} archive not opened")]
        if label in OFFICE_LABELS:
            report = office.analyse(data, label)
            found = list(report.findings)
            if report.macro_source:
                found += self._yara(report.macro_source.encode("utf-8", "replace"), path,
                                    where="VBA source of ")
            self._children(report.children, path, depth, "embedded")
            return found
        if label == "pdf":
            return pdf.analyse(data)
        if label in ("html", "svg"):
            return html.analyse(data, label)
        return []

    def _expand(self, data: bytes, label: str, path: str, depth: int,
                names: list[str]) -> list[tuple[str, str]]:
        limits = self.policy.limits
        if depth >= limits.max_depth:
            return [("ATTACH_ARCHIVE_TOO_DEEP", f"nested deeper than {limits.max_depth}; not opened")]
        expansion = archives.Expansion(label, data, self.budget, self.passwords,
                                       suggested_name=names[0] if names else path.rsplit("/", 1)[-1])
        for member in expansion:
            if not self._time_left():
                break
            self.analyse(member.data, [member.name], mimetypes.guess_type(member.name)[0] or "",
                         f"{path}/{member.name}", depth=depth + 1, source="archive",
                         truncated=member.truncated)
        return expansion.findings

    def _children(self, children: list[tuple[str, bytes]], path: str, depth: int, source: str) -> None:
        if depth >= self.policy.limits.max_depth:
            return
        for name, data in children:
            if not self._time_left():
                return
            self.analyse(data, [name], mimetypes.guess_type(name)[0] or "", f"{path}/{name}",
                         depth=depth + 1, source=source)

    def _yara(self, data: bytes, path: str, where: str = "") -> list[tuple[str, str]]:
        if self.scanner is None:
            return []
        try:
            matches = self.scanner.scan(data, self.policy.limits.yara_timeout)
        except YaraTimeout:
            return [("ATTACH_SCAN_BUDGET", f"YARA timed out on {where}{path}")]
        return [(m.finding_rule, f"YARA {m.rule}" + (f" in {where.strip()}" if where else "")
                 + (f" ({m.description})" if m.description else "")) for m in matches]

    def _time_left(self) -> bool:
        if self.out_of_time:
            return False
        if time.monotonic() - self.started > self.policy.limits.message_budget:
            self.out_of_time = True
            self.ctx.add(Hit("ATTACH_SCAN_BUDGET",
                             f"attachment analysis stopped after {self.policy.limits.message_budget:g}s"))
            return False
        return True

    # --- findings and the decision -------------------------------------------------

    def _record(self, record: dict[str, Any], rule: str, detail: str) -> None:
        text = f"{rule}: {detail}"
        if text in record["findings"]:
            return
        record["findings"].append(text)
        evidence = f"{record['path']} (sha256 {record['sha256']}): {detail}"
        self.ctx.add(Hit(rule, evidence))
        if rule in self.policy.malicious_rules:
            self.malicious.append(f"{rule} {record['path']}: {detail}")

    def decide(self) -> None:
        if self.malicious:
            more = f" (+{len(self.malicious) - 1} more)" if len(self.malicious) > 1 else ""
            self.ctx.force(Action.MALICIOUS, STAGE, self.malicious[0] + more)
