"""The API's SigV4 verifier, fed requests that botocore itself signed, and the role table."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from server.auth import KeyAuthenticator
from server.errors import ApiError
from server.identity import ROLES, Principal, SignedRequest, allows
from tests.support.sigv4 import KEY_ID, NOW, SECRET, FakeKeys, signed_request

BODY = {"name": "demo"}


@pytest.fixture
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def authenticator(keys: FakeKeys) -> KeyAuthenticator:
    return KeyAuthenticator(SimpleNamespace(app=keys))  # type: ignore[arg-type]


def request(**overrides: Any) -> SignedRequest:
    options: dict[str, Any] = {"at": NOW, "key_id": KEY_ID, "secret": SECRET}
    options.update(overrides)
    return signed_request(
        options.pop("operation", "StartPipelineExecution"), options.pop("body", BODY), **options
    )


def refused(authenticator: KeyAuthenticator, signed: SignedRequest) -> ApiError:
    with pytest.raises(ApiError) as raised:
        authenticator.authenticate(signed)
    return raised.value


def test_a_request_botocore_signed_with_a_live_key_yields_the_keys_name_and_role(
    authenticator: KeyAuthenticator,
) -> None:
    assert authenticator.authenticate(request()) == Principal("ci-bot", "operator")


def test_a_signature_a_few_minutes_off_either_way_is_still_accepted(
    authenticator: KeyAuthenticator,
) -> None:
    for skew in (timedelta(minutes=-4, seconds=-59), timedelta(minutes=4, seconds=59)):
        assert authenticator.authenticate(request(at=NOW + skew)).name == "ci-bot"


def test_an_unsigned_request_is_refused_with_missing_authentication_token(
    authenticator: KeyAuthenticator,
) -> None:
    signed = request()
    headers = {k: v for k, v in signed.headers.items() if k != "authorization"}
    error = refused(authenticator, dataclasses.replace(signed, headers=headers))
    assert (error.type, error.status) == ("MissingAuthenticationTokenException", 403)


def test_a_wrong_secret_is_refused_with_invalid_signature_and_the_canonical_request(
    authenticator: KeyAuthenticator,
) -> None:
    error = refused(authenticator, request(secret="not-the-secret"))
    assert error.type == "InvalidSignatureException"
    assert error.message.startswith(
        "The request signature we calculated does not match the signature you provided."
    )
    assert "The Canonical String for this request should have been" in error.message
    assert SECRET not in error.message


def test_an_unknown_key_id_is_refused_as_an_unrecognized_client(
    authenticator: KeyAuthenticator,
) -> None:
    error = refused(authenticator, request(key_id="AKIAUNKNOWN000000000"))
    assert error.type == "UnrecognizedClientException"
    assert error.message == "The security token included in the request is invalid."


def test_a_revoked_key_is_refused_as_an_unrecognized_client(
    authenticator: KeyAuthenticator, keys: FakeKeys
) -> None:
    assert authenticator.authenticate(request()).name == "ci-bot"
    keys.keys[KEY_ID] = dataclasses.replace(keys.keys[KEY_ID], revoked=True)
    assert refused(authenticator, request()).type == "UnrecognizedClientException"


def test_a_revocation_counts_at_the_very_next_request_because_nothing_is_cached(
    authenticator: KeyAuthenticator, keys: FakeKeys
) -> None:
    authenticator.authenticate(request())
    authenticator.authenticate(request())
    assert keys.lookups == 2


def test_a_twenty_minute_old_signature_is_refused_in_aws_wording(
    authenticator: KeyAuthenticator,
) -> None:
    error = refused(authenticator, request(at=NOW - timedelta(minutes=20)))
    assert error.type == "InvalidSignatureException"
    assert error.message == (
        "Signature expired: 20261102T084000Z is now earlier than 20261102T085500Z "
        "(20261102T090000Z - 5 min.)"
    )


def test_a_signature_dated_in_the_future_is_refused_as_not_yet_current(
    authenticator: KeyAuthenticator,
) -> None:
    error = refused(authenticator, request(at=NOW + timedelta(minutes=6)))
    assert error.type == "InvalidSignatureException"
    assert error.message == (
        "Signature not yet current: 20261102T090600Z is still later than 20261102T090500Z "
        "(20261102T090000Z + 5 min.)"
    )


def test_a_missing_or_unreadable_date_is_refused(authenticator: KeyAuthenticator) -> None:
    signed = request()
    for date in (None, "yesterday", "2026-11-02T09:00:00Z"):
        headers = {k: v for k, v in signed.headers.items() if k != "x-amz-date"}
        if date is not None:
            headers["x-amz-date"] = date
        error = refused(authenticator, dataclasses.replace(signed, headers=headers))
        assert error.type == "InvalidSignatureException"
        assert "X-Amz-Date" in error.message


def test_a_body_changed_after_signing_is_refused(authenticator: KeyAuthenticator) -> None:
    signed = request()
    tampered = dataclasses.replace(signed, body=signed.body.replace(b"demo", b"prod"))
    assert refused(authenticator, tampered).type == "InvalidSignatureException"


def test_a_signed_header_changed_after_signing_is_refused(
    authenticator: KeyAuthenticator,
) -> None:
    signed = request(operation="GetPipelineState")
    headers = {**signed.headers, "x-amz-target": "CodePipeline_20150709.DeletePipeline"}
    error = refused(authenticator, dataclasses.replace(signed, headers=headers))
    assert error.type == "InvalidSignatureException"


def test_a_changed_header_that_was_not_signed_does_not_matter(
    authenticator: KeyAuthenticator,
) -> None:
    signed = request()
    headers = {**signed.headers, "user-agent": "something else"}
    assert authenticator.authenticate(dataclasses.replace(signed, headers=headers))


def test_a_signature_scoped_to_another_service_is_refused(
    authenticator: KeyAuthenticator,
) -> None:
    error = refused(authenticator, request(service="codebuild"))
    assert error.type == "InvalidSignatureException"
    assert error.message == "Credential should be scoped to correct service: 'codepipeline'."


def test_any_region_in_the_scope_is_accepted_since_the_endpoint_url_decides_where_calls_go(
    authenticator: KeyAuthenticator,
) -> None:
    assert authenticator.authenticate(request(region="eu-west-3")).name == "ci-bot"


def test_a_signature_that_leaves_host_unsigned_is_refused(
    authenticator: KeyAuthenticator,
) -> None:
    signed = request()
    authorization = signed.headers["authorization"].replace("host;", "")
    headers = {**signed.headers, "authorization": authorization}
    error = refused(authenticator, dataclasses.replace(signed, headers=headers))
    assert error.type == "InvalidSignatureException"
    assert "'Host' must be a 'SignedHeader'" in error.message


def test_a_declared_payload_hash_that_is_not_the_bodys_is_refused(
    authenticator: KeyAuthenticator,
) -> None:
    signed = request()
    headers = {**signed.headers, "x-amz-content-sha256": "0" * 64}
    error = refused(authenticator, dataclasses.replace(signed, headers=headers))
    assert error.type == "InvalidSignatureException"


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE000000001/20261102/us-east-1/codepipeline",
        "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 garbage",
    ],
)
def test_an_authorization_header_that_cannot_be_read_is_refused_as_incomplete(
    authenticator: KeyAuthenticator, header: str
) -> None:
    signed = request()
    error = refused(
        authenticator,
        dataclasses.replace(signed, headers={**signed.headers, "authorization": header}),
    )
    assert (error.type, error.status) == ("IncompleteSignatureException", 400)


def test_a_signature_with_characters_no_hex_digest_has_is_refused_not_crashed_on(
    authenticator: KeyAuthenticator,
) -> None:
    signed = request()
    authorization = signed.headers["authorization"].rsplit("=", 1)[0] + "=é"
    headers = {**signed.headers, "authorization": authorization}
    assert refused(authenticator, dataclasses.replace(signed, headers=headers)).type == (
        "InvalidSignatureException"
    )


# ----- the role table -------------------------------------------------------------------------

READS = ("GetPipelineState", "GetPipeline", "ListPipelines", "ListActionExecutions")
MOVES = (
    "StartPipelineExecution",
    "StopPipelineExecution",
    "RetryStageExecution",
    "EnableStageTransition",
    "DisableStageTransition",
)
APPROVALS = ("PutApprovalResult",)
ADMIN_ONLY = (
    "CreatePipeline",
    "UpdatePipeline",
    "DeletePipeline",
    "TagResource",
    "UntagResource",
)
# Which operation classes each role may call.
MAY = {
    "viewer": {"reads"},
    "operator": {"reads", "moves"},
    "approver": {"reads", "moves", "approvals"},
    "admin": {"reads", "moves", "approvals", "admin"},
}
CLASSES = {"reads": READS, "moves": MOVES, "approvals": APPROVALS, "admin": ADMIN_ONLY}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation_class", sorted(CLASSES))
def test_each_role_may_call_exactly_its_operation_classes(role: str, operation_class: str) -> None:
    expected = operation_class in MAY[role]
    for operation in CLASSES[operation_class]:
        assert allows(role, operation) is expected, (role, operation)


def test_a_role_that_is_not_in_the_table_may_call_nothing() -> None:
    assert not any(allows("root", op) for ops in CLASSES.values() for op in ops)
