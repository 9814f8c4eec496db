"""What the operations share: running a command without driving it, and reading the history."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from server.operation import Call

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from domain.execution import PipelineExecution
    from engine.service import Command

T = TypeVar("T")


def execute(call: Call, command: Command[T]) -> T:
    """Record the command and return at once: the server's workers run what it started."""
    return call.system.service().execute(command)


@contextmanager
def history(call: Call) -> Iterator[Connection]:
    """A connection to the read models, caught up with every event first (as the CLI reads)."""
    with call.system.views().engine.connect() as conn:
        yield conn


def text(call: Call, name: str, default: str = "") -> str:
    """A string member the input shape has already checked, or the default when absent."""
    value: Any = call.body.get(name)
    return default if value is None else str(value)


def execution_of(call: Call) -> PipelineExecution:
    """The execution `pipelineExecutionId` names in `pipelineName`: an unknown pipeline is
    PipelineNotFoundException before an unknown execution, as CodePipeline answers."""
    name = call.body["pipelineName"]
    call.system.app.pipeline(name)
    return call.system.app.execution(call.body["pipelineExecutionId"], name)
