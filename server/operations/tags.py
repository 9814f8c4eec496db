"""TagResource, UntagResource, ListTagsForResource: a pipeline's tags, named by its ARN."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, TypeVar

from domain.tags import pipeline_name_of
from server.errors import ApiError
from server.operation import Call, Handler
from server.operations.common import execute

T = TypeVar("T")

# ListTagsForResource's page when maxResults is not given: the model's maximum.
PAGE_MAX = 100


def page(
    items: Sequence[T], max_results: int, next_token: str | None, what: str
) -> tuple[list[T], str | None]:
    """One page of a short list held whole (tags, action types): the token is an offset."""
    start = 0
    if next_token is not None:
        start = _offset(next_token, what)
        if start > len(items):
            raise _bad_token(what)
    end = start + max_results
    following = _token(what, end) if end < len(items) else None
    return list(items[start:end]), following


def _token(what: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{what}:{offset}".encode()).decode()


def _offset(token: str, what: str) -> int:
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        offset = int(number)
    except ValueError:
        raise _bad_token(what) from None
    if kind != what or offset < 0:
        raise _bad_token(what)
    return offset


def _bad_token(what: str) -> ApiError:
    return ApiError("InvalidNextTokenException", f"nextToken: not a token {what} gave")


def tag_resource(call: Call) -> dict[str, Any]:
    from engine.service import TagResource

    name = pipeline_name_of(call.body["resourceArn"])
    execute(call, TagResource(name, call.body["tags"], by=call.principal.name))
    return {}


def untag_resource(call: Call) -> dict[str, Any]:
    from engine.service import UntagResource

    name = pipeline_name_of(call.body["resourceArn"])
    execute(call, UntagResource(name, call.body["tagKeys"], by=call.principal.name))
    return {}


def list_tags_for_resource(call: Call) -> dict[str, Any]:
    name = pipeline_name_of(call.body["resourceArn"])
    tags = call.system.app.list_tags_for_resource(name)
    listed, following = page(
        tags,
        call.body.get("maxResults") or PAGE_MAX,
        call.body.get("nextToken"),
        "ListTagsForResource",
    )
    body: dict[str, Any] = {"tags": listed}
    if following is not None:
        body["nextToken"] = following
    return body


OPERATIONS: dict[str, Handler] = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
