"""Who a request comes from: the contract between the API's dispatcher and its authenticator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from domain.access_key import ROLES as ROLES


@dataclass(frozen=True)
class Principal:
    """An access key's name (the `by` of every event its requests cause) and its role."""

    name: str
    role: str


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request that a SigV4 signature covers, as received."""

    method: str
    host: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


class Authenticator(Protocol):
    def authenticate(self, request: SignedRequest) -> Principal:
        """The request's principal; raises `server.errors.ApiError` when it is not signed right."""
        ...


# What each role may call. `viewer` reads; `operator` also moves executions; `approver` also
# answers approvals; `admin` may do everything (pipelines, tags, keys).
# (ROLES, the four names, is the access keys' own list: a key is created with one of them.)

# Operations each role may call beyond what the roles before it may; `admin` may call anything.
OPERATOR = frozenset(
    {
        "StartPipelineExecution",
        "StopPipelineExecution",
        "RetryStageExecution",
        "EnableStageTransition",
        "DisableStageTransition",
    }
)
APPROVER = frozenset({"PutApprovalResult"})


def is_read(operation: str) -> bool:
    return operation.startswith(("Get", "List"))


def allows(role: str, operation: str) -> bool:
    """Whether a key of `role` may call `operation`: each role has what the one before has."""
    if role == "admin":
        return True
    if is_read(operation):
        return role in ROLES
    if operation in OPERATOR:
        return role in ("operator", "approver")
    if operation in APPROVER:
        return role == "approver"
    return False
