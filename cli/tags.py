"""`conveyor tag add|remove|list` and `conveyor action-types`: tags and the action catalogue."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.context import actor, handled, out, print_json, system
from domain.errors import ValidationException

tag_app = typer.Typer(
    help="A pipeline's tags (CodePipeline's TagResource, UntagResource, ListTagsForResource).",
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def parse_tags(pairs: list[str]) -> list[dict[str, str]]:
    """KEY=VALUE arguments as CodePipeline's `[{key, value}]` (the value may be empty)."""
    tags = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValidationException(f"tag '{pair}': not KEY=VALUE")
        tags.append({"key": key, "value": value})
    return tags


@tag_app.command("add")
@handled
def tag_add(
    name: str,
    tags: Annotated[list[str], typer.Argument(help="KEY=VALUE, one or more.")],
    as_json: JsonFlag = False,
) -> None:
    """Add tags to a pipeline, or change their values."""
    from engine.service import TagResource

    parsed = parse_tags(tags)
    with system() as sys_:
        changed = sys_.service().execute(TagResource(name, parsed, by=actor()))
        current = sys_.app.list_tags_for_resource(name)
    if as_json:
        print_json({"tags": current})
    else:
        out.print(f"tagged {name}" if changed else f"{name} already had these tags")


@tag_app.command("remove")
@handled
def tag_remove(
    name: str,
    keys: Annotated[list[str], typer.Argument(help="Tag keys, one or more.")],
    as_json: JsonFlag = False,
) -> None:
    """Remove tags by key (keys the pipeline lacks are ignored)."""
    from engine.service import UntagResource

    with system() as sys_:
        changed = sys_.service().execute(UntagResource(name, keys, by=actor()))
        current = sys_.app.list_tags_for_resource(name)
    if as_json:
        print_json({"tags": current})
    else:
        out.print(f"untagged {name}" if changed else f"{name} had none of these tags")


@tag_app.command("list")
@handled
def tag_list(name: str, as_json: JsonFlag = False) -> None:
    """A pipeline's tags (with --json, as ListTagsForResource returns them)."""
    with system() as sys_:
        tags = sys_.app.list_tags_for_resource(name)
    if as_json:
        print_json({"tags": tags})
        return
    for tag in tags:
        out.print(f"{tag['key']}={tag['value']}", markup=False)
    if not tags:
        out.print(f"[dim]{name} has no tags: conveyor tag add {name} KEY=VALUE[/]")


@handled
def action_types_command(
    owner: Annotated[
        str | None, typer.Option("--owner", help="Only AWS, ThirdParty or Custom types.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The action types Conveyor runs (with --json, as ListActionTypes returns them)."""
    from engine.application.action_types import ActionTypeQueries

    types = ActionTypeQueries().list_action_types(owner)
    if as_json:
        print_json({"actionTypes": types})
        return
    for item in types:
        out.print(_line(item), markup=False)


def _line(item: dict[str, Any]) -> str:
    type_id = item["id"]
    inputs, outputs = item["inputArtifactDetails"], item["outputArtifactDetails"]
    return (
        f"{type_id['category']:<9} {type_id['owner']:<11} {type_id['provider']:<25} "
        f"inputs {inputs['minimumCount']}..{inputs['maximumCount']}  "
        f"outputs {outputs['minimumCount']}..{outputs['maximumCount']}"
    )
