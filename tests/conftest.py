"""Test-wide fixtures. Network access beyond this machine is forbidden in every test.

Tests live in one folder per package (``tests/engine``, ``tests/hazard`` …); the shared helpers
(``twin_support``, ``_engine_twins`` …) stay here, importable from every folder.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)

_real_connect = socket.socket.connect


def _is_local(address) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return True  # AF_UNIX paths


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Refuse any connection that is not to the loopback interface or a Unix socket."""

    def guarded(self, address):
        if not _is_local(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return _real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield
