"""`conveyor server` as the API's process: its banner, its refusals at start, its clean stop."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.cli import Workspace
from tests.support.api_server import api_server


def test_insecure_local_mode_refuses_an_address_other_machines_can_reach(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    done = ws.run("server", "--insecure-local", "--host", "0.0.0.0", "--port", "0", expect=2)
    assert "loopback" in done.stderr and "0.0.0.0" in done.stderr


def test_the_banner_names_the_port_and_says_requests_are_not_authenticated(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    with api_server(ws) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert not server.url.endswith(":0")
        assert server.client().list_pipelines()["pipelines"] == []
        assert server.stop() == 0
    banner = "".join(server.stdout)
    assert "INSECURE: requests are not authenticated" in banner
    assert "stopped" in banner
