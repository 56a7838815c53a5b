"""DKIM (every signature, RSA and Ed25519) and ARC, verified with dkimpy.

dkimpy folds most failures into `False`; we give it a key-lookup function
that remembers what DNS said, so a missing key (permerror), an unreachable
one (temperror) and a bad signature (fail) stay distinct, and a body-hash
mismatch is told apart from a broken header signature.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import dkim as dkimpy

from mailsphere_cli.perimeter.dns import NXDOMAIN, NODATA, TEMPERROR, Resolver

MAX_SIGNATURES = 10
_TAG = re.compile(rb"(?:^|;)\s*([a-z]+)\s*=\s*([^;]*)", re.I)
# dkimpy logs every failure at error level; those are results here, not errors.
_QUIET = logging.getLogger("mailsphere.dkim")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


@dataclass(frozen=True, slots=True)
class DkimResult:
    domain: str
    selector: str
    result: str  # pass | fail | temperror | permerror
    algorithm: str
    reason: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"domain": self.domain, "selector": self.selector, "result": self.result,
                "algorithm": self.algorithm, "reason": self.reason}


class _KeyLookup:
    """dkimpy's dnsfunc, remembering the status of the last lookup."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.last_status = ""

    def __call__(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        answer = self.resolver.query(name, "TXT")
        self.last_status = answer.status
        if answer.status == TEMPERROR:
            raise dkimpy.DnsTimeoutError(f"{name}: {answer.error or 'temperror'}")
        for record in answer.records:
            return b"".join(record)
        return None


def _tags(header_value: bytes) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in _TAG.findall(header_value[:8192]):
        tags.setdefault(key.decode("ascii", "replace").lower(),
                        re.sub(r"\s+", "", value.decode("ascii", "replace")))
    return tags


def signature_keys(raw: bytes) -> list[tuple[str, str]]:
    """(selector, domain) of each DKIM-Signature, for prefetching the keys."""
    keys = []
    try:
        headers = dkimpy.DKIM(raw, logger=_QUIET).headers
    except Exception:  # noqa: BLE001
        return []
    for name, value in headers:
        if name.lower() == b"dkim-signature" and len(keys) < MAX_SIGNATURES:
            tags = _tags(value)
            if tags.get("s") and tags.get("d"):
                keys.append((tags["s"], tags["d"]))
    return keys


def verify_dkim(raw: bytes, resolver: Resolver) -> list[DkimResult]:
    try:
        signer = dkimpy.DKIM(raw, logger=_QUIET, minkey=1024, timeout=max(0.5, resolver.remaining()))
    except Exception as exc:  # noqa: BLE001 - unparseable messages have no verifiable signature
        return [DkimResult("", "", "permerror", "", f"message not parseable for DKIM: {exc}")]
    signatures = [v for n, v in signer.headers if n.lower() == b"dkim-signature"]
    results = []
    for index, value in enumerate(signatures[:MAX_SIGNATURES]):
        tags = _tags(value)
        domain, selector = tags.get("d", "").lower(), tags.get("s", "")
        algorithm = tags.get("a", "")
        lookup = _KeyLookup(resolver)
        try:
            valid = signer.verify(idx=index, dnsfunc=lookup)
        except dkimpy.ValidationError as exc:
            text = str(exc)
            reason = "body hash mismatch" if "body hash mismatch" in text else text[:200]
            results.append(DkimResult(domain, selector, "fail", algorithm, reason))
            continue
        except Exception as exc:  # noqa: BLE001 - malformed tags, unknown algorithms, bad keys
            results.append(DkimResult(domain, selector, "permerror", algorithm,
                                      f"{type(exc).__name__}: {str(exc)[:200]}"))
            continue
        if valid:
            results.append(DkimResult(domain, selector, "pass", algorithm))
        elif lookup.last_status == TEMPERROR:
            results.append(DkimResult(domain, selector, "temperror", algorithm, "key lookup failed"))
        elif lookup.last_status in (NXDOMAIN, NODATA):
            results.append(DkimResult(domain, selector, "permerror", algorithm, "no key published"))
        else:
            results.append(DkimResult(domain, selector, "fail", algorithm, "signature did not verify"))
    return results


def verify_arc(raw: bytes, resolver: Resolver) -> dict[str, object]:
    """The ARC chain's validation: {result: pass|fail|none, instances, reason}."""
    lookup = _KeyLookup(resolver)
    try:
        cv, results, reason = dkimpy.arc_verify(raw, logger=_QUIET, dnsfunc=lookup)
    except Exception as exc:  # noqa: BLE001
        return {"result": "fail", "instances": 0, "reason": f"{type(exc).__name__}: {str(exc)[:200]}"}
    text = cv.decode() if isinstance(cv, bytes) else (cv or "fail")
    if lookup.last_status == TEMPERROR and text != "pass":
        text = "temperror"
    return {"result": text.lower(), "instances": len(results or []), "reason": str(reason)[:200]}
