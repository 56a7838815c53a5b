"""Layer 1: replay the SMTP connection and judge it as a careful MTA would have.

`build_services` is called once per worker process; `stage.run(msg, ctx)` once
per message. Everything that touches DNS goes through `dns.Resolver`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mailsphere_cli.perimeter.dns import Resolver
from mailsphere_cli.paths import shipped

NETWORK_CHECKS = ("spf", "dkim", "arc", "dmarc", "dnsbl", "uribl", "fcrdns")


def _zone_files(config: Any) -> list[Path]:
    dirs = [Path(d) for d in (getattr(config, "rules_dirs", ()) or ())]
    if not dirs:
        dirs = [shipped("rules")]
    return [d / "dnsbl.toml" for d in dirs]


def build_services(config: Any, offline: bool, dns_servers: list[str] | None = None) -> dict[str, Any]:
    """The per-worker objects the perimeter needs: the resolver (None offline) and
    the blocklist zones. `dns_servers` (from --dns-server) beats `[dns] servers`."""
    from mailsphere_cli.perimeter.dnsbl import load_zones

    dns_config = getattr(config, "dns", None)
    offline = offline or bool(getattr(dns_config, "offline", False))
    servers = list(dns_servers or getattr(dns_config, "servers", ()) or []) or None
    resolver = None
    if not offline:
        resolver = Resolver(servers,
                            timeout=float(getattr(dns_config, "timeout", 2.0)),
                            retries=int(getattr(dns_config, "retries", 1)),
                            budget=float(getattr(dns_config, "budget", 10.0)))
    return {"resolver": resolver, "dnsbl_zones": load_zones(_zone_files(config))}
