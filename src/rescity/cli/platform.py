"""Platform commands: ``serve``, ``audit``, ``users``, ``store``."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Optional

import typer

from rescity.cli._common import console, err_console
from rescity.errors import InputError

STORE_HELP = "Store URL: sqlite:///path or postgresql://…; default $RESCITY_STORE or sqlite:///$RESCITY_HOME/rescity.db."

audit_app = typer.Typer(help="The audit trail: verify its hash chain, show entries.", no_args_is_help=True)
users_app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)
store_app = typer.Typer(help="The store: information, twin import.", no_args_is_help=True)


def _cli_actor():
    from rescity.govern.principal import Principal

    return Principal(f"cli:{getpass.getuser()}", "platform", "admin")


def _open(store: Optional[str]):
    from rescity.store import open_store

    return open_store(store)


def serve(
    port: int = typer.Option(8000, "--port", "-p", min=1, max=65535, help="TCP port."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback by default)."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    workers: int = typer.Option(2, "--workers", min=1, help="Runs executed at once, each in a worker process."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    policy: Optional[Path] = typer.Option(
        None, "--policy", exists=True, dir_okay=False, help="casbin policy CSV replacing the packaged one."
    ),
    privacy_k: Optional[int] = typer.Option(
        None, "--privacy-k", min=1, help="Withhold counts below k people (default $RESCITY_PRIVACY_K or 10)."
    ),
    tiles: Optional[str] = typer.Option(
        None,
        "--tiles",
        help="Online map tiles under the dashboard, as a URL template https://…/{z}/{x}/{y}.png "
        "(default $RESCITY_TILES, else none: the dashboard works offline).",
    ),
) -> None:
    """Start the API service and the dashboard (/, OpenAPI at /openapi.json, docs at /docs)."""
    try:
        import uvicorn

        from rescity.api import create_app
    except ImportError as e:
        raise InputError("the service needs the platform extra: pip install 'rescity[platform]'") from e
    from rescity.govern.policy import Policy

    app = create_app(
        store,
        workers=workers,
        policy=Policy(policy_path=policy) if policy else None,
        privacy_threshold=privacy_k,
    )
    ctx = app.state.ctx
    app.state.tiles_url = tiles
    err_console.print(
        f"rescity API on http://{host}:{port} (store {ctx.store.display_url}, schema "
        f"v{ctx.store.schema_version()}); dashboard at http://{host}:{port}/",
        highlight=False,
    )
    # open dashboard streams (live alerts) must not hold up a shutdown for long
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, timeout_graceful_shutdown=3)


@audit_app.command("verify")
def audit_verify(
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    expect_head: Optional[str] = typer.Option(
        None, "--expect-head", help="SEQ:HASH published earlier; fail if the chain does not contain it."
    ),
) -> None:
    """Check every link of the audit hash chain; exit 1 if any entry was altered or removed."""
    st = _open(store)
    try:
        v = st.verify_audit()
        problems = list(v.problems)
        if expect_head:
            seq_s, _, want = expect_head.partition(":")
            digest = want[len("k1:") :] if want.startswith("k1:") else want
            if not seq_s.isdigit() or len(digest) != 64:
                raise InputError(
                    "--expect-head takes SEQ:HASH as printed by 'rescity audit head'", value=expect_head
                )
            rows, _ = st.audit_entries(since_seq=int(seq_s) - 1, limit=1)
            if not rows or rows[0]["seq"] != int(seq_s) or rows[0]["hash"] != want:
                problems.append(
                    {"kind": "head", "seq": int(seq_s), "message": f"entry {seq_s} is not the published one"}
                )
    finally:
        st.close()
    ok = not problems
    if as_json:
        console.print_json(json.dumps({**v.as_dict(), "ok": ok, "problems": problems}))
    elif ok:
        console.print(
            f"audit chain intact: {v.entries} entries, head {v.head_seq}:{v.head_hash}", highlight=False
        )
    else:
        err_console.print(
            f"[bold red]audit chain broken[/]: {len(problems)} problem(s) in {v.entries} entries"
        )
        for p in problems[:20]:
            err_console.print(f"  entry {p['seq']}: {p['message']}", highlight=False)
    if not ok:
        raise typer.Exit(1)


@audit_app.command("head")
def audit_head(store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP)) -> None:
    """Print the chain head as SEQ:HASH (publish it; check later with verify --expect-head)."""
    st = _open(store)
    try:
        h = st.audit_head()
    finally:
        st.close()
    console.print(f"{h['seq']}:{h['hash']}", highlight=False)


@audit_app.command("log")
def audit_log(
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
    limit: int = typer.Option(20, "--limit", min=1, help="Newest entries to show."),
    actor: Optional[str] = typer.Option(None, "--actor"),
    action: Optional[str] = typer.Option(None, "--action", help="Action prefix, e.g. grant."),
) -> None:
    """Show the newest audit entries."""
    from rich.table import Table

    st = _open(store)
    try:
        _, total = st.audit_entries(actor=actor, action=action, limit=1)
        rows, _ = st.audit_entries(actor=actor, action=action, limit=limit, offset=max(total - limit, 0))
    finally:
        st.close()
    t = Table("seq", "time (UTC)", "actor", "department", "action", "resource")
    for r in rows:
        t.add_row(str(r["seq"]), r["ts"], r["actor"], r["department"], r["action"], r["resource"])
    console.print(t)


@users_app.command("bootstrap")
def users_bootstrap(
    username: str = typer.Option("admin", "--username"),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Create the first platform administrator and print an API token for it (shown once)."""
    st = _open(store)
    try:
        if any(u["role"] == "admin" and u["department"] == "platform" for u in st.list_users()):
            raise InputError(
                "a platform administrator exists already; make tokens with 'rescity users token'",
                file=st.display_url,
            )
        actor = _cli_actor()
        st.add_user(username, "platform", "admin", full_name="platform administrator", actor=actor)
        tok = st.add_token(username, label="bootstrap", actor=actor)
    finally:
        st.close()
    err_console.print(
        f"created platform administrator {username!r}; its API token (shown once):", highlight=False
    )
    console.print(tok["token"], highlight=False, soft_wrap=True)


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="Login name."),
    department: str = typer.Option(..., "--department", "-d", help="Department id, e.g. water_utility."),
    role: str = typer.Option("viewer", "--role", "-r", help="viewer | analyst | operator | admin."),
    full_name: str = typer.Option("", "--full-name"),
    password: bool = typer.Option(False, "--password", help="Prompt for a password (for the login form)."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Add a user."""
    pw = typer.prompt("password", hide_input=True, confirmation_prompt=True) if password else None
    if pw is not None and len(pw) < 8:
        raise InputError("a password has at least 8 characters", field="password")
    st = _open(store)
    try:
        u = st.add_user(username, department, role, password=pw, full_name=full_name, actor=_cli_actor())
    finally:
        st.close()
    console.print(f"added {u['username']} ({u['role']}, {u['department']})", highlight=False)


@users_app.command("token")
def users_token(
    username: str = typer.Argument(...),
    label: str = typer.Option("", "--label"),
    expires_days: Optional[float] = typer.Option(None, "--expires-days", min=0.001),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Make an API token for a user and print it (shown once)."""
    st = _open(store)
    try:
        try:
            tok = st.add_token(username, label=label, expires_days=expires_days, actor=_cli_actor())
        except KeyError as e:
            raise InputError(str(e), field="username", value=username) from e
    finally:
        st.close()
    console.print(tok["token"], highlight=False, soft_wrap=True)


@users_app.command("list")
def users_list(store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP)) -> None:
    """List users."""
    from rich.table import Table

    st = _open(store)
    try:
        users = st.list_users()
    finally:
        st.close()
    t = Table("username", "department", "role", "disabled", "created")
    for u in users:
        t.add_row(u["username"], u["department"], u["role"], "yes" if u["disabled"] else "", u["created_at"])
    console.print(t)


@store_app.command("info")
def store_info(store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP)) -> None:
    """Backend, schema version and row counts."""
    st = _open(store)
    try:
        console.print_json(json.dumps(st.info()))
    finally:
        st.close()


@store_app.command("import-twin")
def store_import_twin(
    path: Path = typer.Argument(..., help="A twin saved with rescity.twin.io.save (GeoParquet folder)."),
    name: str = typer.Option(..., "--name", help="Name to store it under."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite a stored twin of this name."),
    store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
) -> None:
    """Put a saved twin into the store so the API serves it."""
    try:
        from rescity.twin import io as twin_io
    except ImportError as e:
        raise InputError(
            "this installation cannot read saved twins (rescity.twin.io is missing)", file=path
        ) from e
    twin = twin_io.load(path)
    st = _open(store)
    try:
        info = st.put_twin(name, twin, actor=_cli_actor(), replace=replace)
    finally:
        st.close()
    console.print(
        f"stored twin {name!r}: {info['n_units']} units, {info['n_assets']} assets", highlight=False
    )


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``audit``, ``users`` and ``store`` to the ``rescity`` command."""
    app.command("serve")(serve)
    app.add_typer(audit_app, name="audit")
    app.add_typer(users_app, name="users")
    app.add_typer(store_app, name="store")
