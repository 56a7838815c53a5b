"""Configuration: TOML, optional, validated strictly (an unknown key is an error, not a shrug)."""
from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """One line saying which key of which file is wrong and how to fix it."""


@dataclass(frozen=True)
class DnsConfig:
    servers: tuple[str, ...] = ()
    timeout: float = 2.0
    retries: int = 1
    budget: float = 10.0
    offline: bool = False


@dataclass(frozen=True)
class NetworkConfig:
    trusted: tuple[str, ...] = ()
    internal: tuple[str, ...] = ()


@dataclass(frozen=True)
class SmtpConfig:
    host: str = ""
    port: int = 25
    starttls: bool = False
    username: str = ""
    password_env: str = ""
    sender: str = "mailsphere@localhost"
    outbox: str = ""
    timeout: float = 30.0
    retries: int = 3


@dataclass(frozen=True)
class UserLists:
    whitelist: tuple[str, ...] = ()
    blacklist: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrgConfig:
    name: str
    domains: tuple[str, ...] = ()
    authorised_ips: tuple[str, ...] = ()
    threshold: float = 5.0
    whitelist: tuple[str, ...] = ()
    blacklist: tuple[str, ...] = ()
    digest_schedule: str = "0 8 * * *"
    notify_malicious: tuple[str, ...] = ("recipient",)
    retention_days: int = 30
    portal_url: str = ""
    spoofing_action: str = "reject"  # "reject" (refuse at the perimeter) or "score"
    users: dict[str, UserLists] = field(default_factory=dict)

    def owns(self, domain: str) -> bool:
        domain = domain.lower().rstrip(".")
        return any(domain == d or domain.endswith("." + d) for d in self.domains)


@dataclass(frozen=True)
class ScanConfig:
    threshold: float = 5.0
    message_timeout: float = 30.0
    max_size: int = 25 * 1024 * 1024


@dataclass(frozen=True)
class Config:
    path: str = ""
    dns: DnsConfig = DnsConfig()
    network: NetworkConfig = NetworkConfig()
    smtp: SmtpConfig = SmtpConfig()
    scan: ScanConfig = ScanConfig()
    orgs: dict[str, OrgConfig] = field(default_factory=dict)
    yara_dirs: tuple[str, ...] = ()
    rules_dirs: tuple[str, ...] = ()

    def org_for(self, address: str) -> OrgConfig | None:
        domain = address.rpartition("@")[2].lower()
        if not domain:
            return None
        for org in self.orgs.values():
            if org.owns(domain):
                return org
        return None

    def org_for_any(self, addresses: list[str]) -> OrgConfig | None:
        for address in addresses:
            org = self.org_for(address)
            if org:
                return org
        return None


_NOTIFY = {"sender", "recipient"}


def _check_type(value: Any, expected: type | tuple, where: str) -> Any:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings")
        return tuple(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        name = expected.__name__ if isinstance(expected, type) else "value"
        raise ConfigError(f"{where} must be a {name}, not {type(value).__name__}")
    return value


def _build(cls: type, table: Any, where: str, skip: tuple[str, ...] = ()) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    known = {f.name: f for f in fields(cls) if f.name not in skip and f.name != "name"}
    values = {}
    for key, value in table.items():
        if key in skip:
            continue
        if key not in known:
            raise ConfigError(f"unknown key {where}.{key} (known: {', '.join(sorted(known))})")
        default = known[key].default
        expected: Any = type(default) if not isinstance(default, tuple) else tuple
        values[key] = _check_type(value, expected, f"{where}.{key}")
    return values


def _cidrs(values: tuple[str, ...], where: str) -> tuple[str, ...]:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not an IP network (use CIDR, e.g. "
                              f"192.0.2.0/24)") from None
    return values


def _cron(expr: str, where: str) -> str:
    from croniter import croniter
    if not croniter.is_valid(expr):
        raise ConfigError(f"{where}: {expr!r} is not a cron expression (e.g. \"0 8 * * 1-5\")")
    return expr


def parse_config(data: dict[str, Any], path: str = "") -> Config:
    top = {"dns", "network", "smtp", "scan", "orgs", "yara", "rules"}
    for key in data:
        if key not in top:
            raise ConfigError(f"unknown section [{key}] (known: {', '.join(sorted(top))})")
    dns = DnsConfig(**_build(DnsConfig, data.get("dns", {}), "dns"))
    network = NetworkConfig(**_build(NetworkConfig, data.get("network", {}), "network"))
    _cidrs(network.trusted, "network.trusted")
    _cidrs(network.internal, "network.internal")
    smtp = SmtpConfig(**_build(SmtpConfig, data.get("smtp", {}), "smtp"))
    scan = ScanConfig(**_build(ScanConfig, data.get("scan", {}), "scan"))
    orgs: dict[str, OrgConfig] = {}
    orgs_table = data.get("orgs", {})
    if not isinstance(orgs_table, dict):
        raise ConfigError("[orgs] must be a table of organisations: [orgs.NAME]")
    for name, table in orgs_table.items():
        where = f"orgs.{name}"
        values = _build(OrgConfig, table, where, skip=("users",))
        values["domains"] = tuple(d.lower().strip(".") for d in values.get("domains", ()))
        _cidrs(values.get("authorised_ips", ()), f"{where}.authorised_ips")
        if "digest_schedule" in values:
            _cron(values["digest_schedule"], f"{where}.digest_schedule")
        for who in values.get("notify_malicious", ()):
            if who not in _NOTIFY:
                raise ConfigError(f"{where}.notify_malicious: {who!r} must be 'sender' or "
                                  f"'recipient'")
        if values.get("spoofing_action", "reject") not in ("reject", "score"):
            raise ConfigError(f"{where}.spoofing_action must be 'reject' or 'score'")
        users: dict[str, UserLists] = {}
        for addr, utable in (table.get("users") or {}).items():
            users[addr.lower()] = UserLists(**_build(UserLists, utable, f"{where}.users.{addr}"))
        orgs[name] = OrgConfig(name=name, users=users, **values)
    yara_dirs = _check_type(data.get("yara", {}).get("dirs", []), tuple, "yara.dirs")
    rules_dirs = _check_type(data.get("rules", {}).get("dirs", []), tuple, "rules.dirs")
    return Config(path=path, dns=dns, network=network, smtp=smtp, scan=scan, orgs=orgs,
                  yara_dirs=yara_dirs, rules_dirs=rules_dirs)


def load_config(path: str | os.PathLike | None) -> Config:
    """Read `path`, or ./mailsphere.toml when present, or run on built-in defaults."""
    if path is None:
        local = Path("mailsphere.toml")
        if not local.is_file():
            return Config()
        path = local
    path = Path(path)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist (pass --config with a TOML file)") \
            from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_config(data, str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
