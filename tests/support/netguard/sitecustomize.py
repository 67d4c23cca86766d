"""Python-level network guard, imported by every Python started with this folder on PYTHONPATH.

It patches the socket module so a connection to, or a name lookup of, anything but
this machine is recorded in ``$NETGUARD_LOG`` and refused. It backs up the C guard
(netguard.c, loaded with LD_PRELOAD), which also covers native code and ``python -S``
processes; this one works where no C compiler is available.
"""

import os
import socket

_LOG = os.environ.get("NETGUARD_LOG")
_LOADS = os.environ.get("NETGUARD_LOADS")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", socket.gethostname().lower()}


def _write(path, line):
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    except OSError:
        pass


def _local_host(host) -> bool:
    if host is None or host == "":
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            packed = socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        if family == socket.AF_INET:
            return packed[0] == 127 or packed == b"\0\0\0\0"
        return packed in (b"\0" * 15 + b"\1", b"\0" * 16) or (packed[:12] == b"\0" * 10 + b"\xff\xff" and packed[12] == 127)
    return False


def _listed(host, port) -> bool:
    """``host:port`` is in ``$NETGUARD_ALLOW`` (comma-separated): a server the test configured."""
    allowed = os.environ.get("NETGUARD_ALLOW", "")
    return bool(allowed) and f"{str(host).strip('[]')}:{port}" in allowed.split(",")


def _guard(what, address):
    host = address[0] if isinstance(address, tuple) and address else None
    if isinstance(address, (str, bytes)) or host is None:  # a Unix socket path
        return
    if not _local_host(host) and not _listed(host, address[1] if len(address) > 1 else ""):
        if _LOG:
            _write(_LOG, f"py-{what} {host}:{address[1] if len(address) > 1 else ''} pid={os.getpid()}")
        raise ConnectionRefusedError(f"network guard: no connection to {host} in tests")


_connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
_getaddrinfo = socket.getaddrinfo


def connect(self, address):
    _guard("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    _guard("connect", address)
    return _connect_ex(self, address)


def sendto(self, data, *args):
    _guard("sendto", args[-1])
    return _sendto(self, data, *args)


def getaddrinfo(host, *args, **kwargs):
    listed_hosts = {entry.rsplit(":", 1)[0] for entry in os.environ.get("NETGUARD_ALLOW", "").split(",") if entry}
    if not _local_host(host) and str(host).strip("[]") not in listed_hosts:
        if _LOG:
            _write(_LOG, f"py-getaddrinfo {host} pid={os.getpid()}")
        raise socket.gaierror(socket.EAI_NONAME, f"network guard: no lookup of {host} in tests")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
socket.getaddrinfo = getaddrinfo
if _LOADS:
    _write(_LOADS, f"python-guard pid={os.getpid()}")
