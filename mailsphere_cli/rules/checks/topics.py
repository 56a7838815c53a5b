"""Checks on where a message's identity came from: header facts a sender's own
software normally supplies, but bulk-mailing tools leave for a relay to fill in."""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from mailsphere_cli.perimeter.dmarc import org_domain
from mailsphere_cli.rules.checks import check

MIN_QUEUE_ID = 6   # shorter ids ("123") occur in Message-IDs by chance


# A hand-over from these is a local submission, where a relay making the
# Message-ID is normal (a mail program talking SMTP to its own host or LAN).
_LOCAL_NETS = tuple(ipaddress.ip_network(net) for net in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
    "100.64.0.0/10", "0.0.0.0/8", "::1/128", "fc00::/7", "fe80::/10"))


@lru_cache(maxsize=4096)
def _public_ip(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    return not any(ip in net for net in _LOCAL_NETS if net.version == ip.version)


@check("msgid_from_relay", needs="perimeter")
def msgid_from_relay(msg, ctx) -> str | None:
    """The Message-ID holds the queue id a relay gave the message when it took
    it over SMTP from a public address: the sending program wrote no
    Message-ID and the relay made one up. Mail programs people use write their
    own; mass-mailing scripts that talk SMTP directly often do not. A relay of
    the sender's own organisation doing it (an ISP smarthost completing a
    customer's mail) is ordinary and does not count."""
    message_id = msg.message_id
    if not message_id:
        return None
    for relay in ctx.relays[:30]:
        queue_id = relay.id or ""
        if len(queue_id) < MIN_QUEUE_ID or queue_id not in message_id:
            continue
        maker = message_id.rpartition("@")[2].strip("<> ").lower()
        if msg.from_domain and "." in maker:  # the sender's organisation, asked only now
            sender_org = org_domain(msg.from_domain.lower())
            if sender_org and org_domain(maker) == sender_org:
                return None
        if "SMTP" in (relay.protocol or "").upper() and _public_ip(relay.ip):
            return f"{message_id[:80]} made by {relay.by or 'a relay'} (queue id {queue_id}, client {relay.ip})"
    return None
