"""AWS's error shape: an HTTP status and `{"__type", "message"}`, which boto3 maps to a class."""

from __future__ import annotations

from typing import Any

from domain.errors import ConveyorError


class ApiError(Exception):
    """A refused request as the API answers it; raised before anything is recorded."""

    def __init__(self, type_: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"__type": self.type, "message": self.message}

    @classmethod
    def of(cls, error: ConveyorError) -> ApiError:
        """The domain's errors already carry CodePipeline's exception names."""
        return cls(error.code, error.message, error.http_status)


# AWS's own errors for requests that are not signed, signed badly, or not allowed.
def missing_token() -> ApiError:
    return ApiError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)


def unrecognized_client(
    message: str = "The security token included in the request is invalid.",
) -> ApiError:
    return ApiError("UnrecognizedClientException", message, 400)


def invalid_signature(message: str) -> ApiError:
    return ApiError("InvalidSignatureException", message, 403)


def access_denied(who: str, operation: str) -> ApiError:
    return ApiError(
        "AccessDeniedException",
        f"User: {who} is not authorized to perform: codepipeline:{operation}",
        400,
    )
