"""The raw JSON bodies a boto3 client receives, before botocore parses (and tidies) them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RawResponse:
    operation: str
    status: int
    body: bytes

    def document(self) -> Any:
        return json.loads(self.body) if self.body.strip() else {}


@dataclass
class RawResponses:
    """Every response of the clients attached, in order; botocore's parsed output would hide a
    `null` (dropped), a string where a timestamp belongs (parsed) or an unknown member."""

    seen: list[RawResponse] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parse.codepipeline.*", self._record)
        return client

    def _record(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        body = response_dict.get("body") or b""
        self.seen.append(RawResponse(operation_model.name, response_dict["status_code"], body))

    def succeeded(self, operation: str) -> list[RawResponse]:
        return [r for r in self.seen if r.operation == operation and r.status == 200]

    def operations(self) -> set[str]:
        return {r.operation for r in self.seen if r.status == 200}
