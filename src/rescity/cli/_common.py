"""Shared CLI state and helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from rich.console import Console

from rescity.seeds import DEFAULT_SEED

console = Console()
err_console = Console(stderr=True)


@dataclass
class Settings:
    """Global options given before the sub-command."""

    seed: int = DEFAULT_SEED
    realisations: int = 500
    out: Path = field(default_factory=lambda: Path("rescity-out"))

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


SETTINGS = Settings()
