"""A small authoritative DNS server for tests and benchmarks (no pytest needed).

    server = ZoneServer({"example.test": [("TXT", "v=spf1 -all"), ("A", "192.0.2.1")]},
                        never_answer=["slow.test"])
    server.start(); ...; server.stop()

Zone data is a dict of owner name -> list of (type, value) or (type, value, ttl).
TXT values may be a str, bytes, or a list of strings (several character strings).
Names under a `never_answer` suffix get no reply at all, names under a
`servfail` suffix get SERVFAIL; `nxdomain_everything = True` answers NXDOMAIN
to every question (the benchmark's setting). Long answers are truncated over
UDP so the client has to retry over TCP. Both transports listen on 127.0.0.1 at
the same free port.
"""
from __future__ import annotations

import socket
import socketserver
import struct
import threading
from typing import Any, Iterable

from dnslib import CNAME, MX, PTR, QTYPE, RCODE, RR, SOA, TXT, A, AAAA, DNSLabel, DNSRecord, NS

Zone = dict[str, list[tuple[Any, ...]]]

_SOA = SOA("ns.test.", "hostmaster.test.", (1, 3600, 600, 86400, 60))


def _txt_strings(value: Any) -> list[bytes]:
    if isinstance(value, (list, tuple)):
        return [v.encode() if isinstance(v, str) else v for v in value]
    data = value.encode() if isinstance(value, str) else value
    # One TXT record longer than 255 bytes is split into character strings.
    return [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]


def _rdata(rtype: str, value: Any):
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype in ("TXT", "SPF"):
        return TXT(_txt_strings(value))
    if rtype == "MX":
        pref, host = value if isinstance(value, tuple) else (10, value)
        return MX(host, pref)
    if rtype == "PTR":
        return PTR(value)
    if rtype == "CNAME":
        return CNAME(value)
    if rtype == "NS":
        return NS(value)
    raise ValueError(f"unsupported type {rtype}")


class ZoneServer:
    def __init__(self, zone: Zone | None = None, *, never_answer: Iterable[str] = (),
                 servfail: Iterable[str] = (), nxdomain_everything: bool = False,
                 default_ttl: int = 300) -> None:
        self.zone: Zone = {}
        self.never_answer = [s.lower().rstrip(".") for s in never_answer]
        self.servfail = [s.lower().rstrip(".") for s in servfail]
        self.nxdomain_everything = nxdomain_everything
        self.default_ttl = default_ttl
        self.queries: list[tuple[str, str, str]] = []  # (name, type, transport)
        self._lock = threading.Lock()
        self.port = 0
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []
        self.update(zone or {})

    # -- data --------------------------------------------------------------

    def update(self, zone: Zone) -> None:
        with self._lock:
            for name, records in zone.items():
                self.zone[name.lower().rstrip(".")] = list(records)

    def add(self, name: str, rtype: str, value: Any, ttl: int | None = None) -> None:
        with self._lock:
            self.zone.setdefault(name.lower().rstrip("."), []).append(
                (rtype, value) if ttl is None else (rtype, value, ttl))

    def count(self, name: str, rtype: str | None = None) -> int:
        name = name.lower().rstrip(".")
        with self._lock:
            return sum(1 for n, t, _ in self.queries if n == name and (rtype is None or t == rtype))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- answering ---------------------------------------------------------

    def _under(self, name: str, suffixes: list[str]) -> bool:
        return any(name == s or name.endswith("." + s) for s in suffixes)

    @staticmethod
    def _fast_nxdomain(packet: bytes) -> bytes | None:
        """NXDOMAIN built from the request's bytes: the benchmark's server must not be
        the bottleneck it measures."""
        if len(packet) < 17:
            return None
        end, hops = 12, 0
        while end < len(packet) and packet[end] != 0 and hops < 128:
            end += packet[end] + 1
            hops += 1
        end += 5  # the root label, QTYPE and QCLASS
        if end > len(packet):
            return None
        flags = 0x8400 | (packet[2] & 0x01) << 8 | 0x0080 | 3  # QR AA (+RD) RA NXDOMAIN
        return packet[:2] + struct.pack("!HHHHH", flags, 1, 0, 0, 0) + packet[12:end]

    def answer(self, packet: bytes, transport: str) -> bytes | None:
        if self.nxdomain_everything:
            return self._fast_nxdomain(packet)
        try:
            request = DNSRecord.parse(packet)
        except Exception:
            return None
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE.get(request.q.qtype, str(request.q.qtype))
        with self._lock:
            if len(self.queries) < 1_000_000:
                self.queries.append((qname, qtype, transport))
        if self._under(qname, self.never_answer):
            return None
        reply = request.reply()
        if self.nxdomain_everything:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(RR("test", QTYPE.SOA, rdata=_SOA, ttl=60))
            return reply.pack()
        if self._under(qname, self.servfail):
            reply.header.rcode = RCODE.SERVFAIL
            return reply.pack()
        with self._lock:
            owner, seen = qname, 0
            while seen < 8:
                records = self.zone.get(owner)
                if records is None:
                    break
                cname = [r for r in records if r[0] == "CNAME"]
                if cname and qtype != "CNAME":
                    ttl = cname[0][2] if len(cname[0]) > 2 else self.default_ttl
                    reply.add_answer(RR(owner, QTYPE.CNAME, rdata=_rdata("CNAME", cname[0][1]), ttl=ttl))
                    owner, seen = cname[0][1].lower().rstrip("."), seen + 1
                    continue
                for record in records:
                    if record[0] == qtype:
                        ttl = record[2] if len(record) > 2 else self.default_ttl
                        reply.add_answer(RR(owner, getattr(QTYPE, qtype), rdata=_rdata(qtype, record[1]), ttl=ttl))
                break
            exists = qname in self.zone or any(n.endswith("." + qname) for n in self.zone)
        if not reply.rr:
            if not exists:
                reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(RR("test", QTYPE.SOA, rdata=_SOA, ttl=60))
        data = reply.pack()
        if transport == "udp" and len(data) > 512:
            truncated = request.reply()
            truncated.header.tc = 1
            return truncated.pack()
        return data

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "ZoneServer":
        owner = self

        class UDPHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = owner.answer(data, "udp")
                if reply is not None:
                    sock.sendto(reply, self.client_address)

        class TCPHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(5)
                try:
                    head = self.request.recv(2)
                    if len(head) < 2:
                        return
                    (length,) = struct.unpack("!H", head)
                    data = b""
                    while len(data) < length:
                        chunk = self.request.recv(length - len(data))
                        if not chunk:
                            return
                        data += chunk
                    reply = owner.answer(data, "tcp")
                    if reply is not None:
                        self.request.sendall(struct.pack("!H", len(reply)) + reply)
                except OSError:
                    return

        # UDP answers are quick and never block (a silent zone just drops the
        # packet), so one thread serves them in arrival order.
        class UDP(socketserver.UDPServer):
            allow_reuse_address = True

        class TCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True
            allow_reuse_address = True

        # Find a port free for both transports.
        for _ in range(50):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            probe.close()
            try:
                udp = UDP(("127.0.0.1", port), UDPHandler)
            except OSError:
                continue
            try:
                tcp = TCP(("127.0.0.1", port), TCPHandler)
            except OSError:
                udp.server_close()
                continue
            self.port = port
            self._servers = [udp, tcp]
            break
        else:
            raise RuntimeError("no free port for the test DNS server")
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []

    def __enter__(self) -> "ZoneServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # python tests/dnsserver.py [--nxdomain] : serve until killed
    import sys
    import time
    zone = {"example.test": [("A", "192.0.2.1"), ("TXT", "v=spf1 -all")]}
    with ZoneServer(zone, nxdomain_everything="--nxdomain" in sys.argv) as srv:
        print(srv.address, flush=True)
        while True:
            time.sleep(3600)
