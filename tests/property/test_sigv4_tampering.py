"""Any one byte changed in a signed request's body or signature gets the request refused."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.auth import KeyAuthenticator
from server.errors import ApiError
from tests.support.sigv4 import KEY_ID, NOW, SECRET, FakeKeys, signed_request

SIGNED = signed_request(
    "StartPipelineExecution",
    {"name": "demo", "variables": [{"name": "v", "value": "x"}], "clientRequestToken": "t-1"},
    KEY_ID,
    SECRET,
    at=NOW,
)


def authenticator() -> KeyAuthenticator:
    return KeyAuthenticator(SimpleNamespace(app=FakeKeys()))  # type: ignore[arg-type]


def is_refused(request: object) -> bool:
    try:
        authenticator().authenticate(request)  # type: ignore[arg-type]
    except ApiError:
        return True
    return False


def test_the_untouched_request_is_accepted() -> None:
    assert authenticator().authenticate(SIGNED).name == "ci-bot"


@given(st.data())
def test_any_single_byte_changed_in_the_body_is_refused(data: st.DataObject) -> None:
    body = bytearray(SIGNED.body)
    at = data.draw(st.integers(0, len(body) - 1), label="position")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[at]), label="byte")
    body[at] = byte
    assert is_refused(dataclasses.replace(SIGNED, body=bytes(body)))


@given(st.data())
def test_any_single_character_changed_in_the_signature_is_refused(data: st.DataObject) -> None:
    header = SIGNED.headers["authorization"]
    start = header.index("Signature=") + len("Signature=")
    at = data.draw(st.integers(start, len(header) - 1), label="position")
    char = data.draw(
        st.characters(min_codepoint=33, max_codepoint=255).filter(
            lambda c: c not in (header[at], ",")
        ),
        label="character",
    )
    changed = header[:at] + char + header[at + 1 :]
    headers = {**SIGNED.headers, "authorization": changed}
    assert is_refused(dataclasses.replace(SIGNED, headers=headers))


SCOPE = f"{KEY_ID}/{NOW:%Y%m%d}/us-east-1/codepipeline/aws4_request"
header_names = st.sampled_from(sorted(SIGNED.headers)) | st.text(max_size=12)


@given(
    st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda names, signature: (
                f"AWS4-HMAC-SHA256 Credential={SCOPE}, SignedHeaders={';'.join(names)}, "
                f"Signature={signature}"
            ),
            st.lists(header_names, max_size=6),
            st.text(max_size=70),
        ),
    )
)
def test_any_authorization_header_is_refused_in_awss_shape_never_crashed_on(header: str) -> None:
    headers = {**SIGNED.headers, "authorization": header}
    with pytest.raises(ApiError) as refused:
        authenticator().authenticate(dataclasses.replace(SIGNED, headers=headers))
    assert refused.value.type.endswith("Exception") and refused.value.status in (400, 403)
