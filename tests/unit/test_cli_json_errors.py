"""The CLI's --json errors have the API's shape: {"__type", "message"}."""

from __future__ import annotations

import json

import pytest

from cli.context import report_fault
from domain.errors import PipelineNotFoundException


def test_a_refusal_in_json_mode_is_written_as_the_api_writes_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert report_fault(PipelineNotFoundException("no pipeline named nowhere"), as_json=True) == 2
    assert json.loads(capsys.readouterr().err) == {
        "__type": "PipelineNotFoundException",
        "message": "no pipeline named nowhere",
    }


def test_a_failure_that_is_not_the_requests_fault_is_an_internal_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert report_fault(OSError(28, "No space left on device", "/store"), as_json=True) == 1
    body = json.loads(capsys.readouterr().err)
    assert body["__type"] == "InternalFailure"
    assert body["message"].startswith("/store: No space left on device")
