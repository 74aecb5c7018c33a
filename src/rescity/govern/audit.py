"""The audit trail: an append-only log whose entries form a SHA-256 hash chain.

Entry ``i`` stores ``prev_hash`` = the hash of entry ``i − 1`` (64 zeros for the first) and

    hash_i = SHA-256( canonical JSON of [seq, ts, actor, department, action, resource,
                                         detail, prev_hash] )

with ``seq`` counting 1, 2, 3 … without gaps (a hash chain as in Haber & Stornetta 1991;
Schneier & Kelsey 1999). Altering any stored field changes that entry's hash, so its own check or
its successor's ``prev_hash`` check fails; deleting an entry leaves a gap in ``seq``; deleting
the newest entries is caught by the separately kept chain head (last ``seq`` and hash), which is
updated in the same transaction as each append. Publish :func:`head` elsewhere (a ticket, a
printed report) to catch someone who rewrites the whole chain.

Keyed chain. With a server secret kept *outside* the database (``RESCITY_AUDIT_KEY_FILE``, a
file readable by the service only, or ``RESCITY_AUDIT_KEY``), each new entry's hash is an
HMAC-SHA256 (RFC 2104) under that key, stored as ``k1:<hex>``:

    hash_i = "k1:" + HMAC-SHA256(key, canonical JSON of [seq, …, prev_hash])

What it protects against: someone who can write to the database but does not hold the key
cannot append, alter or re-link entries so that they verify — in particular entries forged and
appended after a published head fail (an unkeyed SHA-256 chain lets them recompute every hash).
Once one keyed entry exists, an unkeyed entry after it is reported as forged. What it does not
protect against: a holder of the key (the service itself, or whoever steals the key file) can
still rewrite history — publish heads elsewhere for that; and entries written before a key was
configured remain plain SHA-256, protected by a published head only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def canonical(detail: Any) -> str:
    """Canonical JSON text of ``detail`` (sorted keys, no spaces, ASCII with ``\\u`` escapes)."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


KEYED = "k1:"


def audit_key() -> bytes | None:
    """The audit key from ``RESCITY_AUDIT_KEY_FILE`` (preferred) or ``RESCITY_AUDIT_KEY``; None if unset."""
    path = os.environ.get("RESCITY_AUDIT_KEY_FILE")
    if path:
        key = Path(path).read_bytes().strip()
    else:
        key = os.environ.get("RESCITY_AUDIT_KEY", "").encode("utf-8")
    if key and len(key) < 16:
        raise ValueError("the audit key must have at least 16 bytes")
    return key or None


def entry_hash(
    seq: int,
    ts: str,
    actor: str,
    department: str,
    action: str,
    resource: str,
    detail: str,
    prev_hash: str,
    key: bytes | None = None,
) -> str:
    """Hash of one entry (``detail`` is the stored canonical JSON text): SHA-256 hex, or with
    ``key`` ``"k1:"`` + HMAC-SHA256 hex."""
    body = json.dumps(
        [int(seq), ts, actor, department, action, resource, detail, prev_hash],
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("utf-8")
    if key:
        return KEYED + hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


@dataclass
class Verification:
    """Result of :func:`verify_chain`."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problems": self.problems,
        }


def verify_chain(
    rows: Iterable[tuple], head: tuple[int, str] | None, *, max_problems: int = 100, key: bytes | None = None
) -> Verification:
    """Check a chain given its entries in ``seq`` order and the recorded head.

    Parameters
    ----------
    rows:
        ``(seq, ts, actor, department, action, resource, detail, prev_hash, hash)`` tuples,
        ascending ``seq``.
    head:
        ``(seq, hash)`` recorded as the chain head, or ``None`` for an empty log.

    Returns
    -------
    Verification
        ``ok`` is False when any entry was altered (``altered``), removed (``missing``), or
        the chain does not end at the recorded head (``head``).
    """
    problems: list[dict[str, Any]] = []
    prev = GENESIS
    expect = 1
    n = 0
    last_seq, last_hash = 0, GENESIS

    def note(kind: str, seq: int, msg: str) -> None:
        if len(problems) < max_problems:
            problems.append({"kind": kind, "seq": seq, "message": msg})

    keyed_from: int | None = None
    for seq, ts, actor, dept, action, resource, detail, prev_hash, h in rows:
        n += 1
        try:
            seq = int(seq)
        except (TypeError, ValueError):
            note(
                "altered", expect, f"the entry after {expect - 1} has a sequence number that is not a number"
            )
            prev, expect = str(h), expect + 1
            continue
        if seq != expect:
            note("missing", expect, f"entries {expect}..{seq - 1} are missing (the sequence jumps to {seq})")
        elif prev_hash != prev:
            note("altered", seq, f"entry {seq} does not link to the entry before it (prev_hash differs)")
        keyed = isinstance(h, str) and h.startswith(KEYED)
        if keyed:
            keyed_from = seq if keyed_from is None else keyed_from
            if key is None:
                note("key", seq, f"entry {seq} is keyed; set RESCITY_AUDIT_KEY_FILE to verify it")
            elif not hmac.compare_digest(
                entry_hash(seq, ts, actor, dept, action, resource, detail, prev_hash, key), h
            ):
                note("altered", seq, f"entry {seq} was changed or forged (its keyed hash does not match)")
        else:
            if keyed_from is not None:
                note("forged", seq, f"entry {seq} is unkeyed after keyed entries (from {keyed_from}): forged")
            if entry_hash(seq, ts, actor, dept, action, resource, detail, prev_hash) != h:
                note(
                    "altered", seq, f"entry {seq} was changed after it was written (its hash does not match)"
                )
        prev = h
        expect = seq + 1
        last_seq, last_hash = seq, h
    head_seq, head_hash = head if head is not None else (0, GENESIS)
    try:
        head_seq = int(head_seq)
    except (TypeError, ValueError):
        note("head", last_seq, "the recorded head's sequence number is not a number")
        head_seq = -1
    if (int(head_seq), head_hash) != (last_seq, last_hash):
        if int(head_seq) > last_seq:
            note("missing", last_seq + 1, f"the log ends at entry {last_seq} but the head records {head_seq}")
        else:
            note("head", last_seq, f"the last entry ({last_seq}) is not the recorded head ({head_seq})")
    return Verification(not problems, n, int(head_seq), head_hash, problems)
