"""Requests signed by botocore itself, at a chosen instant, as a CodePipeline client signs them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from engine.application.access_keys import KeyCredentials
from engine.clock import ManualClock
from server.identity import SignedRequest

TARGET_PREFIX = "CodePipeline_20150709."
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
KEY_ID = "AKIAEXAMPLE000000001"
SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY0"


def signed_headers(
    url: str,
    operation: str,
    body: bytes,
    key_id: str,
    secret: str,
    *,
    at: datetime,
    service: str = "codepipeline",
    region: str = "us-east-1",
) -> dict[str, str]:
    """The headers boto3 would send for `operation`, signed by botocore's SigV4Auth at `at`."""
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "X-Amz-Target": TARGET_PREFIX + operation,
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        SigV4Auth(Credentials(key_id, secret), service, region).add_auth(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    # The HTTP client adds Host from the URL; botocore signed that same value.
    headers["host"] = urlsplit(url).netloc
    return headers


def signed_request(
    operation: str,
    payload: Mapping[str, Any] | bytes,
    key_id: str,
    secret: str,
    *,
    at: datetime,
    url: str = "http://127.0.0.1:8080/",
    **options: str,
) -> SignedRequest:
    """What the server's dispatcher hands the authenticator for that signed call."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = signed_headers(url, operation, body, key_id, secret, at=at, **options)
    parts = urlsplit(url)
    return SignedRequest(
        method="POST",
        host=parts.netloc,
        path=parts.path or "/",
        query=parts.query,
        headers=headers,
        body=body,
    )


class FakeKeys:
    """The application's key lookup, with one key whose revocation a test may flip."""

    def __init__(self) -> None:
        self.clock = ManualClock(NOW)
        self.keys = {KEY_ID: KeyCredentials("ci-bot", "operator", SECRET, revoked=False)}
        self.lookups = 0

    def access_key_credentials(self, key_id: str) -> KeyCredentials | None:
        self.lookups += 1
        return self.keys.get(key_id)
