"""Every raw response a boto3 client receives, checked against botocore's model as it arrives.

`checked(client)` is hooked into the API test server's clients (tests/support/api_server.py),
so every e2e API test is also a shape test: a response that breaks its operation's output
shape, or a refusal without AWS's `{"__type", "message"}`, fails the call that received it.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.shapes import assert_shape


def checked(client: Any) -> Any:
    client.meta.events.register("before-parse.codepipeline.*", _check)
    return client


def _check(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
    body = response_dict.get("body") or b""
    if response_dict["status_code"] != 200:
        refused = json.loads(body)
        assert isinstance(refused.get("__type"), str) and isinstance(refused.get("message"), str), (
            f"{operation_model.name} refused without AWS's error shape: {body[:300]!r}"
        )
        return
    assert_shape(operation_model.name, json.loads(body) if body.strip() else {})
