"""Governance rules without a store: audit hash chain, privacy suppression, credentials, policy."""

from __future__ import annotations

import hashlib
import json
import time

import pandas as pd
import pytest

from rescity.govern import auth, privacy
from rescity.govern.audit import GENESIS, entry_hash, verify_chain
from rescity.govern.departments import DEPARTMENTS, resources_owned
from rescity.govern.policy import Policy


# -- audit chain ----------------------------------------------------------------------------
def _chain(n: int) -> list[tuple]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        fields = (
            seq,
            f"2025-01-01T00:00:{seq:02d}.000000Z",
            "alice",
            "water_utility",
            "alert.create",
            f"alerts/{seq}",
            json.dumps({"n": seq}),
        )
        h = entry_hash(*fields, prev)
        rows.append((*fields, prev, h))
        prev = h
    return rows


def test_entry_hash_is_sha256_of_the_documented_canonical_form():
    # Recompute by hand from the definition in rescity.govern.audit: SHA-256 of the compact JSON
    # array [seq, ts, actor, department, action, resource, detail, prev_hash].
    body = '[7,"2025-01-01T00:00:00Z","bob","health","x.y","r/1","{}","' + "0" * 64 + '"]'
    want = hashlib.sha256(body.encode()).hexdigest()
    assert entry_hash(7, "2025-01-01T00:00:00Z", "bob", "health", "x.y", "r/1", "{}", GENESIS) == want


def test_intact_chain_verifies():
    rows = _chain(5)
    v = verify_chain(rows, (5, rows[-1][-1]))
    assert v.ok and v.entries == 5 and v.problems == []


def test_altered_field_is_detected_at_its_entry():
    rows = _chain(5)
    bad = list(rows[2])
    bad[2] = "mallory"  # actor of entry 3
    rows[2] = tuple(bad)
    v = verify_chain(rows, (5, rows[-1][-1]))
    assert not v.ok
    assert {"altered"} == {p["kind"] for p in v.problems}
    assert [p["seq"] for p in v.problems] == [3]


def test_rehashed_entry_breaks_the_next_link():
    rows = _chain(5)
    bad = list(rows[1])
    bad[6] = json.dumps({"n": 999})
    bad[8] = entry_hash(*bad[:8])  # the forger recomputes entry 2's own hash
    rows[1] = tuple(bad)
    v = verify_chain(rows, (5, rows[-1][-1]))
    assert not v.ok and [p["seq"] for p in v.problems] == [3]


def test_deleted_middle_and_tail_entries_are_detected():
    rows = _chain(6)
    v = verify_chain(rows[:2] + rows[3:], (6, rows[-1][-1]))
    assert not v.ok and any(p["kind"] == "missing" and p["seq"] == 3 for p in v.problems)
    v = verify_chain(rows[:-1], (6, rows[-1][-1]))
    assert not v.ok and any(p["kind"] == "missing" for p in v.problems)


# -- privacy --------------------------------------------------------------------------------
def test_small_counts_are_withheld_and_zeros_kept():
    t = pd.DataFrame({"parent_id": ["a", "a", "a", "b"], "people": [0, 4, 50, 9]})
    out, mask, s = privacy.suppress(t, ["people"], 5)
    # 4 < 5 is withheld; 0 is kept; group a then has one withheld value, so its smallest other
    # positive count (50) goes too; 9 >= 5 stays.
    assert mask["people"].tolist() == [False, True, True, False]
    assert out["people"].isna().tolist() == [False, True, True, False]
    assert out["people"].iloc[0] == 0 and out["people"].iloc[3] == 9
    assert (s.primary, s.secondary, s.total) == (1, 1, 2)


def test_no_secondary_suppression_when_two_values_are_withheld():
    t = pd.DataFrame({"parent_id": ["a"] * 3, "people": [2, 3, 100]})
    _, mask, s = privacy.suppress(t, ["people"], 10)
    assert mask["people"].tolist() == [True, True, False]
    assert s.secondary == 0


def test_k_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("RESCITY_PRIVACY_K", "25")
    assert privacy.privacy_k() == 25
    assert privacy.privacy_k(3) == 3
    with pytest.raises(ValueError):
        privacy.privacy_k(0)


# -- credentials ----------------------------------------------------------------------------
def test_password_hash_checks_and_is_salted():
    h1, h2 = auth.hash_password("correct horse"), auth.hash_password("correct horse")
    assert h1 != h2
    assert auth.check_password("correct horse", h1)
    assert not auth.check_password("correct horsE", h1)
    assert not auth.check_password("x", None)


def test_api_token_stores_only_the_hash():
    token, token_id, secret_hash = auth.new_api_token()
    tid, secret = auth.split_api_token(token)
    assert tid == token_id and secret not in secret_hash
    assert hashlib.sha256(secret.encode()).hexdigest() == secret_hash
    assert auth.split_api_token("rct_short_x") is None


def test_jwt_expires_and_rejects_another_key():
    tok = auth.issue_jwt("k1" * 20, "alice", ttl_s=60)
    assert auth.read_jwt("k1" * 20, tok)["sub"] == "alice"
    assert auth.read_jwt("k2" * 20, tok) is None
    old = auth.issue_jwt("k1" * 20, "alice", ttl_s=-5)
    time.sleep(0.01)
    assert auth.read_jwt("k1" * 20, old) is None


# -- policy ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pol():
    return Policy()


def test_water_analyst_sees_water_in_full_and_power_as_status(pol):
    assert pol.allows("analyst", "water_utility", "assets/water", "read")
    assert not pol.allows("analyst", "water_utility", "assets/power", "read")
    assert pol.allows("analyst", "water_utility", "assets/power", "read_status")


def test_population_microdata_is_restricted(pol):
    assert pol.allows("viewer", "planning", "population/microdata", "read")
    assert not pol.allows("admin", "water_utility", "population/microdata", "read")
    assert not pol.allows("operator", "transport", "population/microdata", "read")


def test_roles_inherit_and_admins_differ(pol):
    assert not pol.allows("viewer", "power_utility", "runs", "write")
    assert pol.allows("analyst", "power_utility", "runs", "write")
    assert pol.allows("operator", "power_utility", "runs", "write")
    assert pol.allows("admin", "platform", "audit", "read")
    assert not pol.allows("admin", "power_utility", "audit", "read")
    assert not pol.allows("operator", "water_utility", "assets/power", "write_status")


def test_every_owner_reads_and_operates_its_own_data():
    pol = Policy()
    for resource, owner in resources_owned().items():
        assert owner in DEPARTMENTS
        assert pol.allows("viewer", owner, resource, "read"), resource
        if resource.startswith("assets/"):
            assert pol.allows("operator", owner, resource, "write_status"), resource


def test_grants_add_and_remove_access():
    pol = Policy()
    assert not pol.allows("viewer", "water_utility", "assets/power", "read")
    pol.refresh(1, lambda: [("water_utility", "assets/power", "read")])
    assert pol.allows("viewer", "water_utility", "assets/power", "read")
    assert not pol.allows_without_grants("viewer", "water_utility", "assets/power", "read")
    pol.refresh(2, lambda: [])
    assert not pol.allows("viewer", "water_utility", "assets/power", "read")
