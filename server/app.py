"""The CodePipeline JSON 1.1 endpoint: `POST /` with `X-Amz-Target`, as a Starlette app."""

from __future__ import annotations

import json
import sys
import threading
import traceback
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.errors import ConveyorError
from server import validation
from server.errors import ApiError, access_denied
from server.identity import Authenticator, Principal, SignedRequest, allows
from server.operation import Call
from server.operations import OPERATIONS

if TYPE_CHECKING:
    from engine.bootstrap import System

TARGET_PREFIX = "CodePipeline_20150709."
CONTENT_TYPE = "application/x-amz-json-1.1"
# What boto3 and the AWS CLI send, and what a hand-written client may send instead.
ACCEPTED_TYPES = frozenset({CONTENT_TYPE, "application/x-amz-json-1.0", "application/json"})
# Whoever calls in insecure local mode: every request is allowed everything.
LOCAL = Principal("local", "admin")


class Dispatcher:
    """One request, from its bytes to its answer: authenticate, authorise, check, run."""

    def __init__(self, system: System, authenticator: Authenticator | None) -> None:
        self.system = system
        self.authenticator = authenticator
        # One System (its store connections, its aggregate cache, its views) serves every
        # request; the application is synchronous and written for one caller at a time.
        self._lock = threading.Lock()

    def dispatch(self, signed: SignedRequest) -> tuple[int, dict[str, Any]]:
        """The status and body of the answer; a refusal is an ApiError's, never a traceback."""
        try:
            with self._lock:
                return 200, self._answer(signed)
        except ApiError as error:
            return error.status, error.body()
        except ConveyorError as error:
            refused = ApiError.of(error)
            return refused.status, refused.body()

    def _answer(self, signed: SignedRequest) -> dict[str, Any]:
        principal = self._principal(signed)
        operation = _operation(signed.headers)
        if not allows(principal.role, operation):
            raise access_denied(principal.name, operation)
        body = _body(signed)
        validation.check(operation, body)
        call = Call(operation=operation, principal=principal, body=body, system=self.system)
        return OPERATIONS[operation](call)

    def _principal(self, signed: SignedRequest) -> Principal:
        if self.authenticator is None:
            return LOCAL
        return self.authenticator.authenticate(signed)


def _operation(headers: Mapping[str, str]) -> str:
    target = headers.get("x-amz-target", "")
    operation = target.removeprefix(TARGET_PREFIX)
    if not target.startswith(TARGET_PREFIX) or not operation:
        raise ApiError("UnknownOperationException", f"unknown operation target '{target}'")
    if operation not in OPERATIONS:
        why = (
            "is one of CodePipeline's operations that Conveyor does not serve"
            if operation in validation.operation_names()
            else "is not an operation of CodePipeline"
        )
        raise ApiError("UnknownOperationException", f"'{operation}' {why}")
    return operation


def _body(signed: SignedRequest) -> dict[str, Any]:
    """The JSON object the request carries; `{}` for an empty body, as AWS accepts."""
    content_type = signed.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise ApiError(
            "SerializationException",
            f"Content-Type must be {CONTENT_TYPE}, not '{content_type or 'none'}'",
        )
    if not signed.body.strip():
        return {}
    try:
        body = json.loads(signed.body)
    except (ValueError, RecursionError):
        raise ApiError("SerializationException", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError("SerializationException", "the request body must be a JSON object")
    return body


def _respond(status: int, body: dict[str, Any]) -> Response:
    return Response(
        json.dumps(body),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


def create_app(system: System, *, authenticator: Authenticator | None) -> Starlette:
    """The API over `system`; without an authenticator (insecure local mode) all may do all."""
    dispatcher = Dispatcher(system, authenticator)

    async def endpoint(request: Request) -> Response:
        try:
            if request.method != "POST":
                raise ApiError("UnknownOperationException", "the API answers POST / only", 404)
            signed = SignedRequest(
                method=request.method,
                host=request.headers.get("host", ""),
                path=request.url.path,
                query=request.url.query,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=await request.body(),
            )
            status, body = await run_in_threadpool(dispatcher.dispatch, signed)
        except ApiError as error:
            status, body = error.status, error.body()
        except Exception:  # a bug: say so in AWS's shape, and leave the traceback in the log
            traceback.print_exc(file=sys.stderr)
            status, body = 500, ApiError("InternalFailure", "internal error", 500).body()
        return _respond(status, body)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/", endpoint, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]),
        ]
    )
