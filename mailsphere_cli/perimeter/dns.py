"""The one resolver: every DNS lookup Mailsphere makes goes through here.

It talks to the configured servers directly (UDP, TCP when truncated), keeps a
TTL-respecting cache with negative caching, and gives each message a DNS budget
so that a server that never answers cannot stall a scan. Timeouts and SERVFAIL
are `temperror`: never a pass, never a fail.
"""
from __future__ import annotations

import contextvars
import ipaddress
import selectors
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable

# dnspython (and the ssl it pulls in): imported by the first Resolver, so an offline
# scan, which has none, does not pay its ~0.07 s of CPU at start-up.
dns: Any = None


def _import_dnspython() -> None:
    global dns
    if dns is None:
        import dns.exception
        import dns.flags
        import dns.message
        import dns.name
        import dns.query
        import dns.rcode
        import dns.rdataclass
        import dns.rdatatype  # noqa: F401 - the eight bind the name `dns` here

OK = "ok"
NXDOMAIN = "nxdomain"
NODATA = "nodata"
TEMPERROR = "temperror"

# A negative answer without an SOA still deserves a short memory.
DEFAULT_NEGATIVE_TTL = 300
# Failures are remembered only briefly: long enough that one message does not
# ask a dead server the same thing twice, short enough to recover quickly.
TEMPERROR_TTL = 5
MAX_CACHE_ENTRIES = 50_000
MAX_TTL = 86_400
MAX_CNAME_HOPS = 8


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of one lookup. `records` hold Python values by type:
    A/AAAA an address string, TXT a tuple of byte strings (one per character
    string), MX a (preference, exchange) pair, PTR/CNAME/NS a host name without
    the trailing dot, anything else its presentation text."""

    name: str
    rdtype: str
    status: str
    records: tuple[Any, ...] = ()
    ttl: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def texts(self) -> list[str]:
        """TXT records with their character strings joined, decoded leniently."""
        return [b"".join(r).decode("utf-8", "replace") for r in self.records if isinstance(r, tuple)]


@dataclass(slots=True)
class _Budget:
    deadline: float
    spent_out: bool = False


_current_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "mailsphere_dns_budget", default=None)
# The resolver pyspf's module-level hook routes to (set by `Resolver.activate`).
current_resolver: contextvars.ContextVar["Resolver | None"] = contextvars.ContextVar(
    "mailsphere_resolver", default=None)


def parse_server(spec: str) -> tuple[str, int]:
    """'host', 'host:port', '[v6]:port' or a bare IPv6 address -> (address, port)."""
    spec = spec.strip()
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
        return host, port
    if spec.count(":") == 1:
        host, port = spec.split(":")
        return host, int(port)
    return spec, 53


def _system_servers() -> list[str]:
    servers: list[str] = []
    try:
        with open("/etc/resolv.conf", encoding="ascii", errors="replace") as conf:
            for line in conf:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    servers.append(parts[1])
    except OSError:
        pass
    return servers or ["127.0.0.1"]


def _record_value(rdata: Any) -> Any:
    kind = rdata.rdtype
    if kind in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return rdata.address
    if kind in (dns.rdatatype.TXT, dns.rdatatype.SPF):
        return tuple(rdata.strings)
    if kind == dns.rdatatype.MX:
        return (rdata.preference, rdata.exchange.to_text(omit_final_dot=True))
    if kind in (dns.rdatatype.PTR, dns.rdatatype.CNAME, dns.rdatatype.NS):
        return rdata.target.to_text(omit_final_dot=True)
    return rdata.to_text()


def _negative_ttl(response: dns.message.Message) -> int:
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            return min(rrset.ttl, rrset[0].minimum)
    return DEFAULT_NEGATIVE_TTL


def reverse_name(ip: str, zone: str = "") -> str:
    """The reversed-label form of an address: '1.2.0.192' or IPv6 nibbles."""
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        labels = ".".join(reversed(str(addr).split(".")))
    else:
        labels = ".".join(reversed(addr.exploded.replace(":", "")))
    return f"{labels}.{zone}" if zone else labels


class Resolver:
    """A caching stub resolver shared by every check in one worker process."""

    def __init__(self, servers: list[str] | None = None, timeout: float = 2.0,
                 retries: int = 1, offline: bool = False, budget: float = 10.0) -> None:
        _import_dnspython()
        self.servers = [parse_server(s) for s in (servers or ([] if offline else _system_servers()))]
        self.timeout = max(0.05, float(timeout))
        self.retries = max(0, int(retries))
        self.offline = offline
        self.budget = max(0.1, float(budget))
        self._cache: OrderedDict[tuple[str, str], tuple[float, Answer]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = {"queries": 0, "cache_hits": 0, "temperrors": 0, "budget_exhausted": 0}

    # -- per message -------------------------------------------------------

    def start_message(self, budget: float | None = None) -> None:
        """Give the current message (this thread and what it spawns) a fresh budget."""
        _current_budget.set(_Budget(time.monotonic() + (budget or self.budget)))
        current_resolver.set(self)

    def activate(self) -> None:
        current_resolver.set(self)

    def remaining(self) -> float:
        budget = _current_budget.get()
        if budget is None:
            return self.budget
        return budget.deadline - time.monotonic()

    def budget_spent(self) -> bool:
        budget = _current_budget.get()
        return budget is not None and budget.spent_out

    # -- lookups -----------------------------------------------------------

    def query(self, name: str, rdtype: str = "A") -> Answer:
        name = name.strip().rstrip(".").lower()
        rdtype = rdtype.upper()
        if not self._valid(name):
            return Answer(name, rdtype, NXDOMAIN, error="invalid name")
        if self.offline:
            return Answer(name, rdtype, TEMPERROR, error="offline")
        cached = self._cached(name, rdtype)
        if cached is not None:
            return cached
        answer = self._resolve_batch([(name, rdtype)])[0]
        self._store(answer)
        return answer

    def many(self, queries: Iterable[tuple[str, str]]) -> list[Answer]:
        """Resolve independent lookups together; answers in the order asked.

        Cached answers are served at once; every miss is sent before any reply is
        awaited (one non-blocking socket each, one selector), so N lookups cost
        about one round trip, without threads contending for the interpreter.
        """
        queries = list(queries)
        answers: list[Answer | None] = [None] * len(queries)
        misses: list[int] = []
        keys: list[tuple[str, str]] = []
        for index, (name, rdtype) in enumerate(queries):
            name, rdtype = name.strip().rstrip(".").lower(), rdtype.upper()
            keys.append((name, rdtype))
            if not self._valid(name):
                answers[index] = Answer(name, rdtype, NXDOMAIN, error="invalid name")
            elif self.offline:
                answers[index] = Answer(name, rdtype, TEMPERROR, error="offline")
            else:
                answers[index] = self._cached(name, rdtype)
                if answers[index] is None:
                    misses.append(index)
        unique = list(dict.fromkeys(keys[i] for i in misses))
        resolved = dict(zip(unique, self._resolve_batch(unique))) if unique else {}
        for answer in resolved.values():
            self._store(answer)
        for index in misses:
            answers[index] = resolved[keys[index]]
        return answers  # type: ignore[return-value]

    def dnsfunc(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        """dkimpy's TXT hook: the first TXT record joined, or None."""
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        answer = self.query(name, "TXT")
        if answer.status == TEMPERROR:
            import dkim  # only needed for its exception type
            raise dkim.DnsTimeoutError(f"{name}: {answer.error or 'temperror'}")
        for record in answer.records:
            return b"".join(record)
        return None

    def close(self) -> None:
        """Nothing to release: sockets live only for the duration of one batch."""

    # -- internals ---------------------------------------------------------

    @staticmethod
    def _valid(name: str) -> bool:
        return bool(name) and len(name) <= 253 and all(0 < len(label) < 64 for label in name.split("."))

    def _cached(self, name: str, rdtype: str) -> Answer | None:
        key = (name, rdtype)
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            expires, answer = entry
            if expires < time.monotonic():
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            self.stats["cache_hits"] += 1
            return answer

    def _store(self, answer: Answer) -> None:
        ttl = TEMPERROR_TTL if answer.status == TEMPERROR else min(answer.ttl, MAX_TTL)
        if answer.error in ("budget exhausted", "offline") or ttl <= 0:
            return
        with self._lock:
            self._cache[(answer.name, answer.rdtype)] = (time.monotonic() + ttl, answer)
            self._cache.move_to_end((answer.name, answer.rdtype))
            while len(self._cache) > MAX_CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def _resolve_batch(self, items: list[tuple[str, str]]) -> list[Answer]:
        """Ask the servers about every (name, type) at once: each round sends all
        still-unanswered questions to one server and waits for replies until the
        timeout (or the message's budget) runs out; retries go round the servers."""
        _import_dnspython()
        results: list[Answer | None] = [None] * len(items)
        pending: dict[int, tuple[dns.message.Message, int]] = {}
        errors: dict[int, str] = {}
        for index, (name, rdtype) in enumerate(items):
            try:
                wanted = dns.rdatatype.from_text(rdtype)
            except dns.rdatatype.UnknownRdatatype:
                results[index] = Answer(name, rdtype, TEMPERROR, error="unknown type")
                continue
            # EDNS with a 1232-byte payload: DKIM keys fit without a TCP retry.
            pending[index] = (dns.message.make_query(name, wanted, use_edns=0, payload=1232), wanted)
            errors[index] = "no DNS servers" if not self.servers else "no answer"
        for _attempt in range(self.retries + 1):
            for host, port in self.servers:
                if not pending:
                    break
                wait = min(self.timeout, self.remaining())
                if wait <= 0.01:
                    for index in list(pending):
                        results[index] = self._exhausted(*items[index])
                        del pending[index]
                    break
                self._udp_round(items, pending, results, errors, host, port, wait)
        for index in pending:
            with self._lock:
                self.stats["temperrors"] += 1
            results[index] = Answer(items[index][0], items[index][1], TEMPERROR, error=errors[index])
        return results  # type: ignore[return-value]

    def _udp_round(self, items: list[tuple[str, str]], pending: dict[int, tuple[dns.message.Message, int]],
                   results: list[Answer | None], errors: dict[int, str], host: str, port: int,
                   wait: float) -> None:
        """One socket sends every pending question, then replies are matched back to
        their questions by message id and question section until `wait` runs out."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        by_id: dict[int, list[int]] = {}
        with socket.socket(family, socket.SOCK_DGRAM) as sock, selectors.DefaultSelector() as selector:
            sock.setblocking(False)
            for index, (request, _wanted) in list(pending.items()):
                try:
                    sock.sendto(request.to_wire(), (host, port))
                except OSError as exc:
                    errors[index] = f"{host}:{port}: {exc.strerror or type(exc).__name__}"
                    continue
                by_id.setdefault(request.id, []).append(index)
            with self._lock:
                self.stats["queries"] += sum(len(v) for v in by_id.values())
            waiting = {index for indices in by_id.values() for index in indices}
            selector.register(sock, selectors.EVENT_READ)
            deadline = time.monotonic() + wait
            while waiting:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    break
                for _drain in range(len(waiting) + 8):
                    try:
                        data = sock.recv(65535)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break  # e.g. ICMP port unreachable: the rest will time out
                    try:
                        response = dns.message.from_wire(data)
                    except (dns.exception.DNSException, ValueError):
                        continue  # junk: keep waiting for a real reply
                    match = next((i for i in by_id.get(response.id, ()) if i in waiting
                                  and pending[i][0].is_response(response)), None)
                    if match is None:
                        continue
                    waiting.discard(match)
                    request, wanted = pending[match]
                    if response.flags & dns.flags.TC:
                        response = self._tcp(request, host, port, match, errors)
                        if response is None:
                            continue
                    answer = self._interpret(*items[match], wanted, response)
                    if answer is None:
                        errors[match] = f"{dns.rcode.to_text(response.rcode())} from {host}:{port}"
                    else:
                        results[match] = answer
                        del pending[match]
            for index in waiting:
                errors[index] = f"timeout from {host}:{port}"

    def _tcp(self, request: dns.message.Message, host: str, port: int, index: int,
             errors: dict[int, str]) -> dns.message.Message | None:
        """The same question over TCP, for an answer too long for UDP."""
        wait = min(self.timeout, self.remaining())
        if wait <= 0.01:
            errors[index] = "budget exhausted"
            return None
        try:
            return dns.query.tcp(request, host, timeout=wait, port=port)
        except (dns.exception.DNSException, OSError, EOFError, ValueError) as exc:
            errors[index] = f"{host}:{port} over TCP: {type(exc).__name__}"
            return None

    def _exhausted(self, name: str, rdtype: str) -> Answer:
        budget = _current_budget.get()
        if budget is not None:
            budget.spent_out = True
        with self._lock:
            self.stats["budget_exhausted"] += 1
        return Answer(name, rdtype, TEMPERROR, error="budget exhausted")

    @staticmethod
    def _interpret(name: str, rdtype: str, wanted: int, response: dns.message.Message) -> Answer | None:
        """An Answer for NOERROR/NXDOMAIN; None (try the next server) otherwise."""
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return Answer(name, rdtype, NXDOMAIN, ttl=_negative_ttl(response))
        if rcode != dns.rcode.NOERROR:
            return None
        # Follow the CNAME chain inside the answer section, bounded.
        owner = dns.name.from_text(name)
        records: list[Any] = []
        ttl = MAX_TTL
        for _hop in range(MAX_CNAME_HOPS):
            rrset = response.get_rrset(response.answer, owner, dns.rdataclass.IN, wanted)
            if rrset is not None:
                records = [_record_value(r) for r in rrset]
                ttl = min(ttl, rrset.ttl)
                break
            alias = response.get_rrset(response.answer, owner, dns.rdataclass.IN, dns.rdatatype.CNAME)
            if alias is None or wanted == dns.rdatatype.CNAME:
                break
            ttl = min(ttl, alias.ttl)
            owner = alias[0].target
        if not records:
            return Answer(name, rdtype, NODATA, ttl=_negative_ttl(response))
        return Answer(name, rdtype, OK, tuple(records), ttl)

