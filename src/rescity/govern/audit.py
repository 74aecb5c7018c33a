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
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64


def canonical(detail: Any) -> str:
    """Canonical JSON text of ``detail`` (sorted keys, no spaces, ASCII with ``\\u`` escapes)."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def entry_hash(
    seq: int, ts: str, actor: str, department: str, action: str, resource: str, detail: str, prev_hash: str
) -> str:
    """SHA-256 hex digest of one entry (``detail`` is the stored canonical JSON text)."""
    body = json.dumps(
        [int(seq), ts, actor, department, action, resource, detail, prev_hash],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


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
    rows: Iterable[tuple], head: tuple[int, str] | None, *, max_problems: int = 100
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

    for seq, ts, actor, dept, action, resource, detail, prev_hash, h in rows:
        n += 1
        seq = int(seq)
        if seq != expect:
            note("missing", expect, f"entries {expect}..{seq - 1} are missing (the sequence jumps to {seq})")
        elif prev_hash != prev:
            note("altered", seq, f"entry {seq} does not link to the entry before it (prev_hash differs)")
        if entry_hash(seq, ts, actor, dept, action, resource, detail, prev_hash) != h:
            note("altered", seq, f"entry {seq} was changed after it was written (its hash does not match)")
        prev = h
        expect = seq + 1
        last_seq, last_hash = seq, h
    head_seq, head_hash = head if head is not None else (0, GENESIS)
    if (int(head_seq), head_hash) != (last_seq, last_hash):
        if int(head_seq) > last_seq:
            note("missing", last_seq + 1, f"the log ends at entry {last_seq} but the head records {head_seq}")
        else:
            note("head", last_seq, f"the last entry ({last_seq}) is not the recorded head ({head_seq})")
    return Verification(not problems, n, int(head_seq), head_hash, problems)
