"""ListActionTypes: the built-in action types, as CodePipeline lists its own."""

from __future__ import annotations

from typing import Any

from server.operation import Call, Handler
from server.operations.tags import page

# Every built-in type fits one page; a token is still honoured (and a forged one refused).
PAGE_MAX = 100


def list_action_types(call: Call) -> dict[str, Any]:
    # `regionFilter` is accepted and ignored: a workspace is one region.
    types = call.system.app.list_action_types(call.body.get("actionOwnerFilter"))
    listed, following = page(types, PAGE_MAX, call.body.get("nextToken"), "ListActionTypes")
    body: dict[str, Any] = {"actionTypes": listed}
    if following is not None:
        body["nextToken"] = following
    return body


OPERATIONS: dict[str, Handler] = {"ListActionTypes": list_action_types}
