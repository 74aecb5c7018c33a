"""Access decisions: a casbin RBAC-with-domains model plus approved sharing grants.

The packaged ``rules/model.conf`` defines requests ``(role, department, object, action)``;
``rules/policy.csv`` holds the default rules (read it: it is the documentation of who may do
what). An approved sharing grant adds the row ``p, viewer, <grantee department>, <resource>,
read`` for as long as it is not revoked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from importlib.resources import files
from pathlib import Path


def default_files() -> tuple[Path, Path]:
    """Paths of the packaged casbin model and policy."""
    base = files("rescity.govern") / "rules"
    return Path(str(base / "model.conf")), Path(str(base / "policy.csv"))


class Policy:
    """Casbin enforcer over the base policy and the currently approved grants.

    Parameters
    ----------
    model_path, policy_path:
        casbin model and policy files; the packaged ones by default.
    """

    def __init__(self, model_path: str | Path | None = None, policy_path: str | Path | None = None) -> None:
        m, p = default_files()
        self.model_path = Path(model_path or m)
        self.policy_path = Path(policy_path or p)
        self._lock = threading.Lock()
        self._base = self._enforcer(())
        self._full = self._base
        self._version: object = None
        self._cache: dict[tuple, bool] = {}

    def _enforcer(self, grants: Iterable[tuple[str, str, str]]):
        import casbin
        from casbin.util import key_match

        e = casbin.Enforcer(str(self.model_path), str(self.policy_path))
        e.add_named_domain_matching_func("g", key_match)
        rows = [["viewer", dept, resource, action] for dept, resource, action in grants]
        if rows:
            e.add_policies(rows)
        e.build_role_links()
        return e

    def refresh(self, version: object, grants: Callable[[], Iterable[tuple[str, str, str]]]) -> None:
        """Rebuild with ``grants()`` — ``(department, resource, action)`` rows — if ``version`` moved."""
        if version == self._version:
            return
        with self._lock:
            if version == self._version:
                return
            self._full = self._enforcer(list(grants()))
            self._cache = {}
            self._version = version

    def allows(self, role: str, department: str, obj: str, act: str) -> bool:
        """Whether ``role`` in ``department`` may ``act`` on ``obj`` (grants included)."""
        key = (role, department, obj, act)
        hit = self._cache.get(key)
        if hit is None:
            hit = bool(self._full.enforce(role, department, obj, act))
            self._cache[key] = hit
        return hit

    def allows_without_grants(self, role: str, department: str, obj: str, act: str) -> bool:
        """Whether the base policy alone allows it (to tell a grant-based access apart)."""
        key = ("base", role, department, obj, act)
        hit = self._cache.get(key)
        if hit is None:
            hit = bool(self._base.enforce(role, department, obj, act))
            self._cache[key] = hit
        return hit

    def rules(self) -> list[list[str]]:
        """The active policy rows (base and grants), for display."""
        return [list(r) for r in self._full.get_policy()]

    def role_links(self) -> list[list[str]]:
        """The role inheritance rows."""
        return [list(r) for r in self._full.get_grouping_policy()]
