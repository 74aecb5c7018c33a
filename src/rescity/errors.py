"""Errors a user can act on.

Every problem with user input is raised as :class:`InputError`, which names the file, the field
and the offending value. The CLI prints it as one line and exits with code 2.
"""

from __future__ import annotations

from typing import Any


class InputError(ValueError):
    """Bad user input: names the file, field and value that are wrong.

    Parameters
    ----------
    message:
        What is wrong and, where possible, what to do about it.
    file, field, value:
        Where the problem is. Any may be ``None`` when it does not apply.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Any = None,
        field: str | None = None,
        value: Any = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.field = field
        self.value = value
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.field is not None:
            where.append(f"field {self.field!r}")
        if self.value is not None:
            v = repr(self.value)
            where.append(f"value {v[:80] + '…' if len(v) > 80 else v}")
        prefix = ": ".join([", ".join(where)]) if where else ""
        msg = self.message if len(self.message) <= 500 else self.message[:500] + "…"
        return f"{prefix}: {msg}" if prefix else msg
