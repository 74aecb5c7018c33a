"""Throttling of password sign-ins: per account and per client address, with exponential back-off.

After ``free`` failed attempts within ``window_s`` seconds a key (an account, or an address) is
locked for ``base_s · 2^(failures − free)`` seconds, at most ``max_s``; while it is locked every
attempt is refused *without checking the password*, so a guess that happens to be right does not
get in either. A successful sign-in clears the account's count (not the address's). Counts live in
the memory of one server process (each process of a multi-process deployment throttles on its
own, which multiplies the allowed rate by the number of processes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    failures: int = 0
    first: float = 0.0
    locked_until: float = 0.0


class LoginThrottle:
    """Failure counts and lockouts of sign-in keys (``user:<name>``, ``addr:<ip>``).

    Parameters
    ----------
    free:
        Failures allowed before the first lockout.
    base_s, max_s:
        First lockout and longest lockout, seconds.
    window_s:
        Failures older than this (since the first of a run) are forgotten, seconds.
    address_free:
        Failures allowed per client address (many accounts guessed from one address).
    clock:
        Monotonic clock (for tests).
    """

    def __init__(
        self,
        *,
        free: int = 5,
        base_s: float = 1.0,
        max_s: float = 900.0,
        window_s: float = 900.0,
        address_free: int = 20,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.free, self.base_s, self.max_s, self.window_s = free, base_s, max_s, window_s
        self.address_free, self.clock, self.max_keys = address_free, clock, max_keys
        self._d: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def _free(self, key: str) -> int:
        return self.address_free if key.startswith("addr:") else self.free

    def retry_after(self, *keys: str) -> float:
        """Seconds until every key may try again (0 when none is locked)."""
        t = self.clock()
        with self._lock:
            return max((max(e.locked_until - t, 0.0) for k in keys if (e := self._d.get(k))), default=0.0)

    def failed(self, *keys: str) -> float:
        """Record a failed attempt of each key; returns the longest lockout it started, seconds."""
        t = self.clock()
        longest = 0.0
        with self._lock:
            if len(self._d) >= self.max_keys:  # bound the memory an attacker can make us use
                for k in [k for k, e in self._d.items() if e.locked_until < t][: self.max_keys // 2]:
                    del self._d[k]
            for k in keys:
                e = self._d.get(k)
                if e is None or t - e.first > self.window_s:
                    e = self._d[k] = _Entry(0, t, 0.0)
                e.failures += 1
                over = e.failures - self._free(k)
                if over >= 0:
                    lock = min(self.base_s * 2.0**over, self.max_s)
                    e.locked_until = max(e.locked_until, t + lock)
                    longest = max(longest, lock)
        return longest

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key`` (the account that signed in)."""
        with self._lock:
            self._d.pop(key, None)


__all__ = ["LoginThrottle"]
