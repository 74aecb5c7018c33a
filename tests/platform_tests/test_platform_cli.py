"""The platform commands: users bootstrap/add/token, audit verify/head, store info."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rescity.cli import app
from rescity.store import SCHEMA_VERSION, open_store


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_bootstrap_then_verify_then_tamper(tmp_path, monkeypatch):
    monkeypatch.setenv("RESCITY_HOME", str(tmp_path))
    monkeypatch.delenv("RESCITY_STORE", raising=False)
    r = run("users", "bootstrap")
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("rct_")
    st = open_store()  # the default store lives in RESCITY_HOME
    assert st.url == f"sqlite:///{tmp_path.resolve() / 'rescity.db'}"
    assert st.user_for_token(token)["role"] == "admin"
    st.close()
    assert run("users", "bootstrap").exit_code != 0  # only once
    assert run("users", "add", "wang", "--department", "water_utility", "--role", "operator").exit_code == 0
    tok = run("users", "token", "wang", "--label", "scada")
    assert tok.exit_code == 0 and tok.stdout.strip().startswith("rct_")
    head = run("audit", "head").stdout.strip()
    ok = run("audit", "verify", "--json", "--expect-head", head)
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True
    info = json.loads(run("store", "info").stdout)
    assert info["counts"]["users"] == 2 and info["schema_version"] == SCHEMA_VERSION

    st = open_store()
    with st.write() as tx:
        tx.execute("DROP TRIGGER audit_log_no_update")
        tx.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2")
    st.close()
    bad = run("audit", "verify")
    assert bad.exit_code == 1 and "entry 2" in bad.output


def test_importing_rescity_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, rescity, rescity.api, rescity.store, rescity.govern, rescity.cli; "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'casbin', 'psycopg', 'jwt') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
