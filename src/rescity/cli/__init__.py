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
    scheduler: Optional[str] = typer.Option(
        None,
        "--scheduler",
        envvar="RESCITY_SCHEDULER",
        help="Where ensembles run: local (default; in process, or a local pool of --workers), local-dask "
        "(a Dask LocalCluster of --workers processes) or a Dask scheduler address (tcp://host:8786). "
        "Results do not depend on it.",
    ),
) -> None:
    """Global options; a sub-command's own --seed/--realisations/--out win over these."""
    from rescity.engine.executor import check_scheduler

    SETTINGS.seed = seed
    SETTINGS.realisations = realisations
    SETTINGS.out = out
    SETTINGS.scheduler = check_scheduler(scheduler, field="--scheduler")


def _register() -> None:
    """Import every ``rescity.cli.<topic>`` module and let it add its commands."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"{__name__}.{info.name}").register(app)


_register()


def one_line(text: str, most: int = 400) -> str:
    """``text`` on one line, at most ``most`` characters."""
    s = " ".join(str(text).split())
    return s if len(s) <= most else s[: most - 1] + "…"


def input_failure(e: BaseException) -> str | None:
    """A one-line message when ``e`` is a reader's complaint about malformed input, else ``None``.

    The readers raise :class:`InputError` themselves; this catches what third-party parsers raise
    on input they cannot read (corrupt Parquet/GeoPackage, malformed CSV, bad gzip, undecodable
    text, runaway nesting), so that such files end with exit code 2, not an internal error.
    """
    import csv
    import gzip
    import json
    import tomllib
    import zlib

    kinds: list[type] = [
        UnicodeError, gzip.BadGzipFile, EOFError, zlib.error, json.JSONDecodeError, tomllib.TOMLDecodeError,
        csv.Error, RecursionError, OverflowError,
    ]  # fmt: skip
    names = {
        "ParserError", "EmptyDataError", "ArrowInvalid", "ArrowTypeError", "ArrowNotImplementedError",
        "YAMLError", "ScannerError", "ComposerError", "ConstructorError", "DataSourceError",
        "DriverError", "CRSError", "ProjError", "DatabaseError", "OutOfBoundsDatetime", "DateParseError",
    }  # fmt: skip
    mro = {c.__name__ for c in type(e).__mro__}
    if not (isinstance(e, tuple(kinds)) or mro & names):
        return None
    name = getattr(e, "filename", None)
    where = f"{name}: " if name else ""
    return one_line(f"{where}cannot read the input ({type(e).__name__}: {e})", 300)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of the console script."""
    debug = os.environ.get("RESCITY_DEBUG") == "1"
    if not debug:
        import warnings

        # numeric and parsing warnings of the libraries are no message for the user: the readers
        # check the input and say what is wrong in one line
        for cat in (RuntimeWarning, UserWarning, FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=cat)
    try:
        app(args=argv, prog_name="rescity")
    except InputError as e:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(one_line(str(e)))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        if debug:
            raise
        name = getattr(e, "filename", None) or ""
        err_console.print(
            f"[bold red]error:[/] {escape(f'{name}: {e.strerror or e}')}", highlight=False, soft_wrap=True
        )
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        reason = input_failure(e)
        if reason is not None:
            if debug:
                raise
            err_console.print(f"[bold red]error:[/] {escape(reason)}", highlight=False, soft_wrap=True)
            sys.exit(2)
        if debug:
            raise
        err_console.print(
            f"[bold red]internal error:[/] {escape(one_line(f'{type(e).__name__}: {e}'))} "
            "(set RESCITY_DEBUG=1 for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
