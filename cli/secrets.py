"""`conveyor secrets`: the workspace's secret values, set from stdin or a prompt, never argv."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli.context import handled, out, print_json
from engine.secrets import SecretsError, SecretStore, check_name

secrets_app = typer.Typer(
    help="Secrets for CodeBuild's PARAMETER_STORE and SECRETS_MANAGER variables, stored "
    "encrypted in the workspace.",
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _store() -> SecretStore:
    import os

    from domain.errors import NotAWorkspaceException
    from engine.bootstrap import _no_workspace
    from engine.settings import load_settings

    settings = load_settings()
    if not settings.home.is_dir():
        raise NotAWorkspaceException(_no_workspace(settings.home, os.environ))
    return SecretStore(settings.home)


def _read_value(name: str) -> str:
    """The value from a prompt on a terminal, else all of stdin (one trailing newline dropped)."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"value of secret {name}: ")
    value = sys.stdin.read()
    return value[:-1] if value.endswith("\n") else value


@secrets_app.command("set")
@handled
def secrets_set(name: str, as_json: JsonFlag = False) -> None:
    """Store NAME's value, read from stdin or a prompt (never from the command line)."""
    store = _store()
    check_name(name)
    store.set(name, _read_value(name))
    if as_json:
        print_json({"name": name, "stored": True})
    else:
        out.print(f"secret {name} stored (encrypted with {store.key_path})")


@secrets_app.command("list")
@handled
def secrets_list(as_json: JsonFlag = False) -> None:
    """The names of the stored secrets; values are never shown."""
    names = _store().names()
    if as_json:
        print_json({"secrets": names})
    elif names:
        out.print("\n".join(names))
    else:
        out.print("no secrets (add one with conveyor secrets set NAME)")


@secrets_app.command("delete")
@handled
def secrets_delete(name: str, as_json: JsonFlag = False) -> None:
    """Forget NAME's value."""
    if not _store().delete(check_name(name)):
        raise SecretsError(f"secret '{name}': no such secret in this workspace [secret.missing]")
    if as_json:
        print_json({"name": name, "deleted": True})
    else:
        out.print(f"secret {name} deleted")
