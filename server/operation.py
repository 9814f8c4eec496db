"""One API call as its handler sees it, and the shape every operation's handler has."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from server.identity import Principal

if TYPE_CHECKING:
    from engine.bootstrap import System


@dataclass(frozen=True)
class Call:
    """An authenticated, authorised request: its JSON body parsed into a mapping."""

    operation: str
    principal: Principal
    body: Mapping[str, Any]
    system: System


# A handler reads or commands through the application layer and returns the response body.
# It raises `server.errors.ApiError` (or a `domain.errors.ConveyorError`) to refuse.
Handler = Callable[[Call], dict[str, Any]]
