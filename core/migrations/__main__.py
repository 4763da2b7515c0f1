"""Developer entry point: ``python -m vitalsign.core.migrations revision "message"``.

Autogenerates a new revision against a scratch SQLite store brought to head first.
"""

from __future__ import annotations

import sys
import tempfile

from alembic import command
from sqlalchemy import create_engine

from . import alembic_config, upgrade


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "revision":
        print('usage: python -m vitalsign.core.migrations revision "message"', file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/scratch.db")
        upgrade(engine)
        command.revision(alembic_config(engine), message=argv[1], autogenerate=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
