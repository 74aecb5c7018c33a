"""Who is acting: a user's name, department and role."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """A signed-in user (or the system itself) as seen by policy and audit."""

    username: str
    department: str
    role: str

    @property
    def is_platform_admin(self) -> bool:
        return self.role == "admin" and self.department == "platform"


#: The actor recorded for writes made by rescity itself (background jobs, migrations).
SYSTEM = Principal("system", "platform", "admin")
