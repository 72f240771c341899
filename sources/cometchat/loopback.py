"""Whether a host name is this machine: the one rule both the source (plain http allowed) and the emulator
(where it may listen) follow."""

import ipaddress


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (127.0.0.0/8, ::1), brackets of an IPv6 URL host allowed."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
