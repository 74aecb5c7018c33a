"""The HTTP API (FastAPI): :func:`create_app`, and the job registry :func:`register_job`.

Importing this package does not import FastAPI; :func:`create_app` does.
"""

from __future__ import annotations

from typing import Any

from rescity.api.jobs import register_job


def create_app(*args: Any, **kwargs: Any):
    """Build the FastAPI app (see :func:`rescity.api.app.create_app`)."""
    from rescity.api.app import create_app as _create

    return _create(*args, **kwargs)


__all__ = ["create_app", "register_job"]
