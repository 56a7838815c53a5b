"""Layer 2: attachments typed by their bytes, banned by policy, looked inside, signature-scanned.

`build_services` is called once per worker; the stage (`stage.run`) reads what
it returns from `ctx.services`.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any


def build_services(config: Any, yara_dirs: list[str] | None = None) -> dict[str, Any]:
    """Compile the YARA rules (ours plus `yara_dirs`) and load the banned-type policy."""
    from mailsphere_cli.attachments.policy import load_policy
    from mailsphere_cli.attachments.yara_scan import compile_rules

    policy_file = getattr(getattr(config, "attachments", None), "policy_file", None)
    return {
        "yara": compile_rules([d for d in (yara_dirs or []) if d]),
        "attachment_policy": load_policy(policy_file),
    }


@lru_cache(maxsize=1)
def default_services() -> dict[str, Any]:
    """Built-in services for callers that did not go through a worker initialiser."""
    return build_services(None, [])
