"""Shared CLI state and helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from rich.console import Console

from rescity.seeds import DEFAULT_SEED

if TYPE_CHECKING:
    from rescity.engine.executor import Executor

console = Console()
err_console = Console(stderr=True)


@dataclass
class Settings:
    """Global options given before the sub-command."""

    seed: int = DEFAULT_SEED
    realisations: int = 500
    out: Path = field(default_factory=lambda: Path("rescity-out"))
    #: ``--scheduler`` (``RESCITY_SCHEDULER``): where ensembles run (``None``: locally).
    scheduler: Optional[str] = None

    def pick(
        self,
        seed: Optional[int] = None,
        realisations: Optional[int] = None,
        out: Optional[Path] = None,
    ) -> tuple[int, int, Path]:
        """A sub-command's own option if given, else the global one."""
        return (
            self.seed if seed is None else seed,
            self.realisations if realisations is None else realisations,
            self.out if out is None else out,
        )

    def executor(self, workers: int = 1) -> Executor:
        """The executor of a command's ensembles: ``workers`` and the global ``--scheduler``
        (:func:`rescity.engine.executor.resolve_executor`); use it as a context manager."""
        from rescity.engine.executor import resolve_executor

        return resolve_executor(workers, self.scheduler or "local")


SETTINGS = Settings()


#: File in an output folder naming the command (and event) whose outputs it holds.
OUTPUT_MARK = ".rescity-output.json"
#: Files whose presence shows a folder holds some command's outputs.
_OUTPUT_FILES = ("report.html", "units.csv", "issuances.csv", "settings.json", "metrics.csv", "plan.csv")


def claim_output(out: Path, command: str, event: str = "", force: bool = False) -> None:
    """Make ``out`` the output folder of ``command`` for ``event``, refusing (exit code 2) to
    overwrite another command's or another event's outputs there unless ``force``.

    The folder records its owner in :data:`OUTPUT_MARK`; a folder holding outputs without that
    record counts as another command's."""
    import json

    from rescity.errors import InputError

    out = Path(out)
    mark = out / OUTPUT_MARK
    me = {"command": command, "event": event}
    if out.is_dir() and not force:
        try:
            owner = json.loads(mark.read_text(encoding="utf-8")) if mark.is_file() else None
        except (OSError, ValueError):
            owner = None
        holds = any((out / f).exists() for f in _OUTPUT_FILES)
        # a folder without outputs (a run that failed before writing any) is free to take
        if holds and (owner is None or owner != me):
            what = (
                f"the outputs of `rescity {owner.get('command', '?')}` {owner.get('event', '')}".rstrip()
                if owner
                else "another command's outputs"
            )
            raise InputError(
                f"the folder holds {what}; pass --force to overwrite them or choose another --out",
                file=out,
                field="--out",
                value=str(out),
            )
    out.mkdir(parents=True, exist_ok=True)
    mark.write_text(json.dumps(me, ensure_ascii=False), encoding="utf-8")
