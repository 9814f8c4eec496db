"""AWS Signature Version 4, verified against the workspace's access keys with botocore's signer."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from server.errors import ApiError, invalid_signature, missing_token, unrecognized_client
from server.identity import Principal, SignedRequest

if TYPE_CHECKING:
    from engine.application.access_keys import KeyCredentials
    from engine.bootstrap import System

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "codepipeline"
TERMINATOR = "aws4_request"
# AWS refuses a signature dated more than five minutes from its own clock, either way.
MAX_SKEW = timedelta(minutes=5)
_PARAMETER = re.compile(r"^\s*(\w+)=([^,\s]*)\s*$")
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)


def incomplete_signature(message: str) -> ApiError:
    """AWS's answer to an Authorization header it cannot even read."""
    return ApiError("IncompleteSignatureException", message, 400)


@dataclass(frozen=True)
class Authorization:
    """The parts of an `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`."""

    key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(header: str) -> Authorization:
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise incomplete_signature(
            f"Unsupported authorization type '{algorithm[:40]}': sign requests with "
            f"{ALGORITHM} (AWS Signature Version 4)."
        )
    parameters: dict[str, str] = {}
    for part in rest.split(","):
        found = _PARAMETER.match(part)
        if found is None:
            raise incomplete_signature(
                "Invalid key=value pair (missing equal-sign) in Authorization header."
            )
        parameters[found.group(1)] = found.group(2)
    missing = [p for p in ("Credential", "Signature", "SignedHeaders") if not parameters.get(p)]
    if missing:
        raise incomplete_signature(
            " ".join(f"Authorization header requires '{p}' parameter." for p in missing)
        )
    scope = parameters["Credential"].split("/")
    if len(scope) != 5 or not all(scope):
        raise incomplete_signature(
            "Credential must be KEYID/YYYYMMDD/REGION/SERVICE/aws4_request, not "
            f"'{parameters['Credential'][:120]}'."
        )
    return Authorization(
        key_id=scope[0],
        date=scope[1],
        region=scope[2],
        service=scope[3],
        terminator=scope[4],
        signed_headers=tuple(parameters["SignedHeaders"].split(";")),
        signature=parameters["Signature"],
    )


def check_scope(authorization: Authorization) -> None:
    if authorization.service != SERVICE:
        raise invalid_signature(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if authorization.terminator != TERMINATOR:
        raise invalid_signature(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{authorization.terminator[:40]}'."
        )
    if "host" not in authorization.signed_headers:
        raise invalid_signature("'Host' must be a 'SignedHeader' in the AWS Authorization.")


def signed_at(request: SignedRequest, authorization: Authorization, now: datetime) -> str:
    """The request's X-Amz-Date, checked against the clock and the credential's scope."""
    stamp = request.headers.get("x-amz-date", "")
    try:
        at = datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise invalid_signature(
            "Authorization header requires existence of a valid 'X-Amz-Date' header "
            f"(YYYYMMDD'T'HHMMSS'Z'), not '{stamp[:40]}'."
        ) from None
    if at < now - MAX_SKEW:
        raise invalid_signature(
            f"Signature expired: {stamp} is now earlier than {_stamp(now - MAX_SKEW)} "
            f"({_stamp(now)} - 5 min.)"
        )
    if at > now + MAX_SKEW:
        raise invalid_signature(
            f"Signature not yet current: {stamp} is still later than {_stamp(now + MAX_SKEW)} "
            f"({_stamp(now)} + 5 min.)"
        )
    if authorization.date != stamp[:8]:
        raise invalid_signature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{authorization.date[:16]}' != '{stamp[:8]}', from '{stamp}'."
        )
    return stamp


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime(SIGV4_TIMESTAMP)


class _Reference(SigV4Auth):  # type: ignore[misc]  # botocore ships no types
    """botocore's SigV4 signer, made to sign exactly the headers the client says it signed
    (botocore itself would pick them from the request, leaving out a few it never signs)."""

    def __init__(self, credentials: Credentials, authorization: Authorization) -> None:
        super().__init__(credentials, authorization.service, authorization.region)
        self._signed = authorization.signed_headers

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self._signed:
            chosen[name] = request.headers[name]
        return chosen


def _check_payload_hash(request: SignedRequest) -> None:
    """A declared payload hash is what the signature covers instead of the body: it must be
    the body's own, or the body could be swapped under a valid signature."""
    declared = request.headers.get("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(request.body).hexdigest():
        raise invalid_signature(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )


def expected_signature(
    request: SignedRequest, authorization: Authorization, secret: str, stamp: str
) -> tuple[str, str, str]:
    """The canonical request, string to sign and signature, as botocore computes them."""
    missing = [name for name in authorization.signed_headers if name not in request.headers]
    if missing:
        raise invalid_signature(
            f"{MISMATCH} The signed header(s) {', '.join(missing)} are not in the request."
        )
    url = "http://conveyor.invalid" + (request.path or "/")
    if request.query:
        url += "?" + request.query
    headers = {name: request.headers[name] for name in authorization.signed_headers}
    reference = AWSRequest(method=request.method, url=url, headers=headers, data=request.body)
    reference.context["timestamp"] = stamp
    signer = _Reference(Credentials(authorization.key_id, secret), authorization)
    canonical = signer.canonical_request(reference)
    to_sign = signer.string_to_sign(reference, canonical)
    return canonical, to_sign, signer.signature(to_sign, reference)


class KeyAuthenticator:
    """Checks each request's SigV4 signature against the access keys in the event store.

    The key is read from the store at every request, so a revoked key is refused from the
    next request on, whichever process revoked it.
    """

    def __init__(self, system: System) -> None:
        self.system = system

    def authenticate(self, request: SignedRequest) -> Principal:
        header = request.headers.get("authorization")
        if not header:
            raise missing_token()
        authorization = parse_authorization(header)
        check_scope(authorization)
        stamp = signed_at(request, authorization, self.system.app.clock.now())
        credentials = self._credentials(authorization.key_id)
        if credentials is None or credentials.revoked:
            raise unrecognized_client()
        _check_payload_hash(request)
        canonical, to_sign, signature = expected_signature(
            request, authorization, credentials.secret, stamp
        )
        provided = authorization.signature.encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(signature.encode(), provided):
            raise invalid_signature(
                f"{MISMATCH}\n\nThe Canonical String for this request should have been\n"
                f"'{canonical}'\n\nThe String-to-Sign should have been\n'{to_sign}'\n"
            )
        return Principal(name=credentials.name, role=credentials.role)

    def _credentials(self, key_id: str) -> KeyCredentials | None:
        from domain.errors import ConveyorError

        try:
            return self.system.app.access_key_credentials(key_id)
        except ConveyorError:
            # The workspace key changed since the key was made: it can't sign anything now;
            # the caller learns no more than that the key is not valid.
            return None
