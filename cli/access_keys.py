"""`conveyor access-key`: the API's access keys, whose secret is printed once, at creation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cli.context import actor, handled, out, print_json, system

if TYPE_CHECKING:
    from engine.application.access_keys import AccessKeyInfo

access_key_app = typer.Typer(
    help="Access keys that sign requests to `conveyor server` (AWS Signature Version 4).",
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def metadata(key: AccessKeyInfo) -> dict[str, Any]:
    """A key as IAM's AccessKeyMetadata names it, with its role; never its secret."""
    found: dict[str, Any] = {
        "UserName": key.name,
        "AccessKeyId": key.key_id,
        "Status": "Revoked" if key.revoked else "Active",
        "Role": key.role,
        "CreateDate": key.created_at.isoformat(),
        "CreatedBy": key.created_by,
    }
    if key.revoked_at is not None:
        found["RevokeDate"] = key.revoked_at.isoformat()
        found["RevokedBy"] = key.revoked_by
    return found


@access_key_app.command("create")
@handled
def access_key_create(
    name: Annotated[str, typer.Option("--name", help="Who the key is: the `by` of its events.")],
    role: Annotated[str, typer.Option("--role", help="viewer, operator, approver or admin.")],
    as_json: JsonFlag = False,
) -> None:
    """Create a key and print its id and secret: the only time the secret is shown."""
    with system() as sys_:
        key_id, secret = sys_.app.create_access_key(name, role, by=actor())
    if as_json:
        print_json(
            {
                "AccessKey": {
                    "UserName": name,
                    "AccessKeyId": key_id,
                    "SecretAccessKey": secret,
                    "Status": "Active",
                    "Role": role,
                }
            }
        )
        return
    out.print(f"created access key {escape(name)} (role {role})")
    out.print(f"  aws_access_key_id     = {key_id}")
    out.print(f"  aws_secret_access_key = {secret}")
    out.print(
        "The secret is shown this once and cannot be shown again: put it in a profile now "
        "(aws configure --profile NAME)."
    )


@access_key_app.command("list")
@handled
def access_key_list(as_json: JsonFlag = False) -> None:
    """Every key, live or revoked: name, key id, role, created, revoked; never a secret."""
    with system() as sys_:
        keys = sys_.app.list_access_keys()
    if as_json:
        print_json({"AccessKeyMetadata": [metadata(key) for key in keys]})
        return
    if not keys:
        out.print("no access keys (create one with conveyor access-key create)")
        return
    table = Table(show_header=True, header_style="bold")
    for column in ("name", "key id", "role", "created", "by", "revoked"):
        # A key id is copied whole into a profile: never folded or cut.
        table.add_column(
            column, no_wrap=column == "key id", min_width=20 if column == "key id" else None
        )
    for key in keys:
        revoked = (
            f"{key.revoked_at:%Y-%m-%d %H:%M:%S} by {escape(str(key.revoked_by))}"
            if key.revoked_at
            else "-"
        )
        table.add_row(
            escape(key.name),
            key.key_id,
            key.role,
            f"{key.created_at:%Y-%m-%d %H:%M:%S}",
            escape(key.created_by),
            revoked,
        )
    out.print(table)


@access_key_app.command("revoke")
@handled
def access_key_revoke(
    name: Annotated[str, typer.Argument(help="The key's name, or its key id.")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke a key: the server refuses it from the next request on."""
    with system() as sys_:
        key = sys_.app.revoke_access_key(name, by=actor())
    if as_json:
        print_json(metadata(key))
    else:
        out.print(f"revoked access key {escape(key.name)} ({key.key_id})")
