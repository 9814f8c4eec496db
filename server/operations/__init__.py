"""Every operation the API serves, by CodePipeline's name: each module lists its own."""

from __future__ import annotations

from importlib import import_module

from server.operation import Handler

# One line per module of operations.
OPERATIONS: dict[str, Handler] = {}
OPERATIONS.update(import_module("server.operations.pipelines").OPERATIONS)
OPERATIONS.update(import_module("server.operations.executions").OPERATIONS)
OPERATIONS.update(import_module("server.operations.control").OPERATIONS)
OPERATIONS.update(import_module("server.operations.tags").OPERATIONS)
OPERATIONS.update(import_module("server.operations.action_types").OPERATIONS)
