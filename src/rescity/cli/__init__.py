"""The ``rescity`` command.

Each topic lives in its own module beside this one and registers its commands on :data:`app`
in :func:`_register`. User errors (:class:`rescity.errors.InputError`, missing files) are printed
as one line and exit with code 2; no traceback unless ``RESCITY_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from rescity.cli._common import SETTINGS, err_console
from rescity.errors import InputError
from rescity.seeds import DEFAULT_SEED

app = typer.Typer(
    name="rescity",
    help="rescity — the resilient city brain (韧性城市大脑): twin, hazards, cascades, decisions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global(
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="Seed of every random stream."),
    realisations: int = typer.Option(500, "--realisations", "-n", min=1, help="Monte Carlo realisations."),
    out: Path = typer.Option(Path("rescity-out"), "--out", "-o", help="Output folder."),
) -> None:
    """Global options; a sub-command's own --seed/--realisations/--out win over these."""
    SETTINGS.seed = seed
    SETTINGS.realisations = realisations
    SETTINGS.out = out


def _register() -> None:
    """Import every ``rescity.cli.<topic>`` module and let it add its commands."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"{__name__}.{info.name}").register(app)


_register()


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of the console script."""
    debug = os.environ.get("RESCITY_DEBUG") == "1"
    try:
        app(args=argv, prog_name="rescity")
    except InputError as e:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        if debug:
            raise
        name = getattr(e, "filename", None) or ""
        err_console.print(f"[bold red]error:[/] {escape(f'{name}: {e.strerror or e}')}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if debug:
            raise
        err_console.print(
            f"[bold red]internal error:[/] {escape(f'{type(e).__name__}: {e}')} (set RESCITY_DEBUG=1 for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
