"""Users, API tokens and data-sharing grants."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

from rescity.errors import InputError
from rescity.govern import auth
from rescity.govern.departments import DEPARTMENTS, ROLES, owner_of, resources_owned
from rescity.govern.principal import Principal
from rescity.store.base import NotFound, Tx, now
from rescity.store.twins import check_name

GRANT_STATUSES: tuple[str, ...] = ("pending", "approved", "rejected", "revoked")
_USER_COLUMNS = "username, department, role, full_name, disabled, created_at"


def _user_row(r: dict[str, Any]) -> dict[str, Any]:
    r["disabled"] = bool(r["disabled"])
    return r


def _check_user_fields(department: str | None, role: str | None) -> None:
    if department is not None and department not in DEPARTMENTS:
        raise InputError(
            f"unknown department; one of {', '.join(DEPARTMENTS)}", field="department", value=department
        )
    if role is not None and role not in ROLES:
        raise InputError(f"unknown role; one of {', '.join(ROLES)}", field="role", value=role)


class AccessStore:
    """Users, tokens and grants (mixed into :class:`rescity.store.Store`)."""

    # -- departments and roles -------------------------------------------------------------
    def departments(self) -> list[dict[str, Any]]:
        owned = resources_owned()
        with self.read() as q:  # type: ignore[attr-defined]
            rows = q.dicts("SELECT department, name_en, name_zh FROM departments ORDER BY department")
        for r in rows:
            r["owns"] = sorted(k for k, v in owned.items() if v == r["department"])
        return rows

    def roles(self) -> list[dict[str, Any]]:
        with self.read() as q:  # type: ignore[attr-defined]
            return q.dicts("SELECT role, rank, description FROM roles ORDER BY rank")

    # -- users -----------------------------------------------------------------------------
    def add_user(
        self,
        username: str,
        department: str,
        role: str,
        *,
        password: str | None = None,
        full_name: str = "",
        actor: Principal | None = None,
    ) -> dict[str, Any]:
        check_name(username, "user")
        _check_user_fields(department, role)
        with self.write() as tx:  # type: ignore[attr-defined]
            if tx.one("SELECT 1 FROM users WHERE username = ?", (username,)) is not None:
                raise InputError("a user of this name exists", field="username", value=username)
            tx.execute(
                "INSERT INTO users (username, department, role, full_name, password_hash, disabled, "
                "created_at) "
                "VALUES (?, ?, ?, ?, ?, 0, ?)",
                (
                    username,
                    department,
                    role,
                    full_name,
                    auth.hash_password(password) if password else None,
                    now(),
                ),
            )
            tx.audit(actor, "user.create", f"users/{username}", {"department": department, "role": role})
        return self.get_user(username)

    def get_user(self, username: str) -> dict[str, Any]:
        with self.read() as q:  # type: ignore[attr-defined]
            rows = q.dicts(f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,))
        if not rows:
            raise NotFound(f"no user named {username!r}")
        return _user_row(rows[0])

    def list_users(self, *, department: str | None = None) -> list[dict[str, Any]]:
        sql, params = f"SELECT {_USER_COLUMNS} FROM users", []
        if department is not None:
            sql += " WHERE department = ?"
            params.append(department)
        with self.read() as q:  # type: ignore[attr-defined]
            return [_user_row(r) for r in q.dicts(sql + " ORDER BY username", params)]

    def update_user(
        self,
        username: str,
        *,
        department: str | None = None,
        role: str | None = None,
        disabled: bool | None = None,
        password: str | None = None,
        full_name: str | None = None,
        actor: Principal | None = None,
    ) -> dict[str, Any]:
        _check_user_fields(department, role)
        sets, params, changed = [], [], {}
        for col, val in (("department", department), ("role", role), ("full_name", full_name)):
            if val is not None:
                sets.append(f"{col} = ?")
                params.append(val)
                changed[col] = val
        if disabled is not None:
            sets.append("disabled = ?")
            params.append(int(disabled))
            changed["disabled"] = bool(disabled)
        if password is not None:
            sets.append("password_hash = ?")
            params.append(auth.hash_password(password))
            changed["password"] = "changed"
        with self.write() as tx:  # type: ignore[attr-defined]
            old = tx.dicts("SELECT department, role, disabled FROM users WHERE username = ?", (username,))
            if not old:
                raise NotFound(f"no user named {username!r}")
            if sets:
                tx.execute(f"UPDATE users SET {', '.join(sets)} WHERE username = ?", [*params, username])
            o = old[0]
            if (
                password is not None
                or (department is not None and department != o["department"])
                or (role is not None and role != o["role"])
                or (disabled and not o["disabled"])
            ):
                # credentials changed: every access token and API token issued before stops working
                revoked = self._revoke_credentials(tx, username)
                changed["tokens_revoked"] = revoked
            tx.audit(actor, "user.update", f"users/{username}", changed)
        return self.get_user(username)

    @staticmethod
    def _credentials_key(username: str) -> str:
        return f"credentials_version:{username}"

    def _revoke_credentials(self, tx: Tx, username: str) -> int:
        """Bump the user's credentials version (JWTs carry it) and revoke their API tokens."""
        key = self._credentials_key(username)
        v = tx.scalar("SELECT value FROM settings WHERE key = ?", (key,))
        if v is None:
            tx.execute("INSERT INTO settings (key, value) VALUES (?, ?)", (key, "1"))
        else:
            tx.execute("UPDATE settings SET value = ? WHERE key = ?", (str(int(v) + 1), key))
        cur = tx.execute(
            "UPDATE tokens SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL", (now(), username)
        )
        return max(int(cur.rowcount or 0), 0)

    def credentials_version(self, username: str) -> int:
        """How often the user's password, role or department changed (0 = never); JWTs name it."""
        with self.read() as q:  # type: ignore[attr-defined]
            v = q.scalar("SELECT value FROM settings WHERE key = ?", (self._credentials_key(username),))
        return int(v or 0)

    def check_login(self, username: str, password: str) -> dict[str, Any] | None:
        """The user if the password matches and the user is enabled, else ``None``."""
        with self.read() as q:  # type: ignore[attr-defined]
            row = q.one("SELECT password_hash, disabled FROM users WHERE username = ?", (username,))
        # The same scrypt work whether or not the user exists, is disabled or has a password, so the
        # answer's timing does not tell which usernames exist.
        stored = row[0] if row is not None and row[0] else None
        ok = auth.check_password(password, stored or auth.dummy_hash())
        if row is None or row[1] or stored is None or not ok:
            return None
        return self.get_user(username)

    # -- API tokens ------------------------------------------------------------------------
    def add_token(
        self,
        username: str,
        *,
        label: str = "",
        expires_days: float | None = None,
        actor: Principal | None = None,
    ) -> dict[str, Any]:
        """Make an API token for ``username``; the returned ``token`` is not stored and shown once."""
        token, token_id, secret_hash = auth.new_api_token()
        expires = None
        if expires_days is not None:
            expires = (datetime.now(UTC) + timedelta(days=float(expires_days))).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            )
        with self.write() as tx:  # type: ignore[attr-defined]
            if tx.one("SELECT 1 FROM users WHERE username = ?", (username,)) is None:
                raise NotFound(f"no user named {username!r}")
            tx.execute(
                "INSERT INTO tokens (token_id, username, secret_hash, label, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (token_id, username, secret_hash, label, now(), expires),
            )
            tx.audit(
                actor,
                "token.create",
                f"users/{username}/tokens/{token_id}",
                {"label": label, "expires_at": expires},
            )
        return {
            "token": token,
            "token_id": token_id,
            "username": username,
            "label": label,
            "expires_at": expires,
        }

    def list_tokens(self, username: str) -> list[dict[str, Any]]:
        with self.read() as q:  # type: ignore[attr-defined]
            return q.dicts(
                "SELECT token_id, username, label, created_at, expires_at, revoked_at FROM tokens WHERE "
                "username = ? "
                "ORDER BY created_at",
                (username,),
            )

    def revoke_token(self, username: str, token_id: str, *, actor: Principal | None = None) -> None:
        with self.write() as tx:  # type: ignore[attr-defined]
            cur = tx.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND username = ? AND revoked_at IS NULL",
                (now(), token_id, username),
            )
            if cur.rowcount != 1:
                raise NotFound(f"user {username!r} has no active token {token_id!r}")
            tx.audit(actor, "token.revoke", f"users/{username}/tokens/{token_id}", {})

    def user_for_token(self, token: str) -> dict[str, Any] | None:
        """The enabled user an unexpired, unrevoked API token belongs to, else ``None``."""
        return self.user_for_token_and_grants(token)[0]

    def user_for_token_and_grants(self, token: str) -> tuple[dict[str, Any] | None, int]:
        """:meth:`user_for_token` and :meth:`grants_version` in one query (one per API request)."""
        parts = auth.split_api_token(token)
        if parts is None:
            return None, self.grants_version()
        token_id, secret = parts
        with self.read() as q:  # type: ignore[attr-defined]
            rows = q.dicts(
                "SELECT t.secret_hash, t.expires_at, t.revoked_at, "
                f"{', '.join('u.' + c for c in _USER_COLUMNS.split(', '))}, "
                "(SELECT value FROM settings WHERE key = 'grants_version') AS grants_version "
                "FROM tokens t JOIN users u ON u.username = t.username WHERE t.token_id = ?",
                (token_id,),
            )
        if not rows:
            return None, self.grants_version()
        r = rows[0]
        version = int(r.pop("grants_version") or 0)
        if not hmac.compare_digest(r.pop("secret_hash"), auth.hash_secret(secret)):
            return None, version
        expires, revoked = r.pop("expires_at"), r.pop("revoked_at")
        if revoked is not None or (expires is not None and expires < now()) or r["disabled"]:
            return None, version
        return _user_row(r), version

    # -- sharing grants --------------------------------------------------------------------
    def request_grant(self, resource: str, reason: str, *, actor: Principal) -> dict[str, Any]:
        """Ask the owning department to let the actor's department read ``resource`` in full."""
        owner = owner_of(resource)
        if owner is None:
            raise InputError(
                "no department owns this resource; shareable resources: "
                f"{', '.join(sorted(resources_owned()))}",
                field="resource",
                value=resource,
            )
        if owner == actor.department:
            raise InputError("your department owns this resource already", field="resource", value=resource)
        if not reason.strip():
            raise InputError("say why your department needs the data", field="reason", value=reason)
        with self.write() as tx:  # type: ignore[attr-defined]
            dup = tx.one(
                "SELECT id, status FROM grants WHERE resource = ? AND grantee = ? AND status IN "
                "('pending', 'approved')",
                (resource, actor.department),
            )
            if dup is not None:
                raise InputError(
                    f"your department has a {dup[1]} grant for this resource already (grant {dup[0]})",
                    field="resource",
                    value=resource,
                )
            gid = tx.insert_id(
                "INSERT INTO grants (resource, owner, grantee, action, reason, status, requested_by, "
                "requested_at) "
                "VALUES (?, ?, ?, 'read', ?, 'pending', ?, ?) RETURNING id",
                (resource, owner, actor.department, reason, actor.username, now()),
            )
            tx.audit(
                actor,
                "grant.request",
                f"grants/{gid}",
                {"resource": resource, "owner": owner, "reason": reason},
            )
        return self.get_grant(gid)

    def get_grant(self, gid: int) -> dict[str, Any]:
        with self.read() as q:  # type: ignore[attr-defined]
            rows = q.dicts("SELECT * FROM grants WHERE id = ?", (int(gid),))
        if not rows:
            raise NotFound(f"no grant with id {gid}")
        return rows[0]

    def list_grants(
        self, *, department: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Grants where ``department`` is owner or grantee (all when ``None``)."""
        where, params = ["1 = 1"], []
        if department is not None:
            where.append("(owner = ? OR grantee = ?)")
            params += [department, department]
        if status is not None:
            where.append("status = ?")
            params.append(status)
        with self.read() as q:  # type: ignore[attr-defined]
            return q.dicts(f"SELECT * FROM grants WHERE {' AND '.join(where)} ORDER BY id", params)

    def _bump_grants(self, tx: Tx) -> None:
        v = int(tx.scalar("SELECT value FROM settings WHERE key = 'grants_version'") or 0)
        tx.execute("UPDATE settings SET value = ? WHERE key = 'grants_version'", (str(v + 1),))

    def decide_grant(self, gid: int, approve: bool, note: str = "", *, actor: Principal) -> dict[str, Any]:
        """Approve or reject a pending grant; only the owning department (or a platform admin)."""
        with self.write() as tx:  # type: ignore[attr-defined]
            g = self._grant_tx(tx, gid)
            if actor.department != g["owner"] and not actor.is_platform_admin:
                raise PermissionError(f"only the owning department ({g['owner']}) decides on grant {gid}")
            if g["status"] != "pending":
                raise InputError(
                    f"grant {gid} is {g['status']}, not pending", field="status", value=g["status"]
                )
            status = "approved" if approve else "rejected"
            tx.execute(
                "UPDATE grants SET status = ?, decided_by = ?, decided_at = ?, decision_note = ? WHERE "
                "id = ?",
                (status, actor.username, now(), note, int(gid)),
            )
            if approve:
                self._bump_grants(tx)
            tx.audit(
                actor,
                f"grant.{'approve' if approve else 'reject'}",
                f"grants/{gid}",
                {"resource": g["resource"], "grantee": g["grantee"], "note": note},
            )
        return self.get_grant(gid)

    def revoke_grant(self, gid: int, note: str = "", *, actor: Principal) -> dict[str, Any]:
        """Revoke an approved (or withdraw a pending) grant: owner, grantee or platform admin."""
        with self.write() as tx:  # type: ignore[attr-defined]
            g = self._grant_tx(tx, gid)
            if actor.department not in (g["owner"], g["grantee"]) and not actor.is_platform_admin:
                raise PermissionError(f"only {g['owner']} or {g['grantee']} may revoke grant {gid}")
            if g["status"] not in ("approved", "pending"):
                raise InputError(f"grant {gid} is {g['status']} already", field="status", value=g["status"])
            tx.execute(
                "UPDATE grants SET status = 'revoked', revoked_by = ?, revoked_at = ?, decision_note = ? "
                "WHERE id = ?",
                (actor.username, now(), note or g["decision_note"], int(gid)),
            )
            self._bump_grants(tx)
            tx.audit(
                actor, "grant.revoke", f"grants/{gid}", {"resource": g["resource"], "grantee": g["grantee"]}
            )
        return self.get_grant(gid)

    def _grant_tx(self, tx: Tx, gid: int) -> dict[str, Any]:
        rows = tx.dicts("SELECT * FROM grants WHERE id = ?", (int(gid),))
        if not rows:
            raise NotFound(f"no grant with id {gid}")
        return rows[0]

    def grants_version(self) -> int:
        """A counter that moves whenever the set of approved grants changes."""
        with self.read() as q:  # type: ignore[attr-defined]
            return int(q.scalar("SELECT value FROM settings WHERE key = 'grants_version'") or 0)

    def active_grants(self) -> list[tuple[str, str, str]]:
        """``(grantee, resource, action)`` of every approved grant."""
        with self.read() as q:  # type: ignore[attr-defined]
            return [
                tuple(r)
                for r in q.all("SELECT grantee, resource, action FROM grants WHERE status = 'approved'")
            ]
