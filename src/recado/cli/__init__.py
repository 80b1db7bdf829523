"""The `recado` command line: serve the platform and script everyday work.

Every command acts on one workspace: `--workspace ID` (or RECADO_WORKSPACE), by default the
first one created. Errors print one readable line and exit non-zero, never a traceback.
"""

from __future__ import annotations

from recado.cli import commands as _commands  # noqa: F401  (registers the commands)
from recado.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
