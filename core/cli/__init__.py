"""The ``vitalsign`` command line (typer + rich).

Errors are one line on stderr naming what to fix, with the exit codes of the design
(0 ok, 1 a stream failed, 2 usage or configuration, 3 sync already running); ``--debug``
adds the traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Annotated

import typer

from ..errors import VitalsignError
from ._state import State, state

app = typer.Typer(
    name="vitalsign",
    help="Customer-success KPIs from Stripe, HubSpot and product usage, in one local store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"vitalsign {version('vitalsign')}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option("--config", help="Config file (default: $VITALSIGN_CONFIG or ./vitalsign.toml)."),
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Store URL; wins over $VITALSIGN_STORE and [store] url.")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    st = state(ctx)
    st.config_path, st.store_url, st.debug = config, store, debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


from . import _accounts, _demo, _health, _metrics, _report, _sync  # noqa: E402,F401  (register the commands)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = command.main(args=args, prog_name="vitalsign", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors of the command line itself
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            print(f"error: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except VitalsignError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)


__all__ = ["State", "app", "main"]
