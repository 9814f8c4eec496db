"""Finding the store as git finds `.git`; only `init` creates one; an unreachable store named."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli import CONVEYOR, Workspace
from tests.support.cli_driver import Driver

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "pipeline.json"
NOT_A_WORKSPACE = "not a Conveyor workspace (run conveyor init)"


def everything_under(root: Path) -> set[Path]:
    return {path.relative_to(root) for path in root.rglob("*")}


def outside_env(**extra: str) -> dict[str, str]:
    """A user's environment with no CONVEYOR_HOME: the store is found from the directory."""
    env = Workspace(Path("/nonexistent"), init=False).env()
    env.pop("CONVEYOR_HOME")
    return {**env, **extra}


def conveyor(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CONVEYOR, *args],
        cwd=cwd,
        env=outside_env(**env),
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory with no workspace in it or above it."""
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    above = [d for d in (directory, *directory.parents) if (d / ".conveyor").is_dir()]
    assert above == [], f"a stray workspace above the test's directory: {above}"
    return directory


@pytest.fixture
def driver(outside: Path) -> Iterator[Driver]:
    started = Driver(outside_env(), cwd=outside)
    yield started
    started.kill()


def test_every_store_command_outside_a_workspace_says_so_exits_2_and_creates_nothing(
    outside: Path, driver: Driver
) -> None:
    (outside / "pipeline.json").write_text(EXAMPLE.read_text())
    before = everything_under(outside)
    commands = [
        ["pipeline", "list"],
        ["pipeline", "create", "pipeline.json"],
        ["pipeline", "get", "hello-site"],
        ["start", "hello-site"],
        ["state", "hello-site"],
        ["approve", "hello-site", "Approval", "Release", "--comment", "ok"],
        ["executions", "list", "hello-site"],
        ["logs", "0123abcd"],
        ["tick"],
        ["audit"],
        ["billing", "report"],
        ["projections", "status"],
    ]
    for argv in commands:
        result = driver.run(*argv)
        assert result["code"] == 2, result
        assert NOT_A_WORKSPACE in result["stderr"], result
        assert "Traceback" not in result["stderr"]
    # The console script itself, as a user meets it.
    done = conveyor(outside, "pipeline", "list", "--json")
    assert done.returncode == 2
    assert NOT_A_WORKSPACE in done.stderr
    assert everything_under(outside) == before


def test_commands_that_need_no_store_work_outside_a_workspace_and_create_nothing(
    outside: Path, driver: Driver
) -> None:
    before = everything_under(outside)
    scenario = REPO / "examples" / "scenarios" / "superseded-vs-queued.json"
    shop = REPO / "examples" / "explore" / "shop.json"
    properties = REPO / "examples" / "explore" / "properties.yaml"
    commands = [
        ["pipeline", "validate", str(EXAMPLE)],
        ["pipeline", "schema"],
        ["simulate", str(scenario)],
        ["explore", str(shop), "--properties", str(properties), "--examples", "3", "--seed", "1"],
    ]
    for argv in commands:
        result = driver.run(*argv)
        assert result["code"] == 0, result
    assert conveyor(outside, "--help").returncode == 0
    # Hypothesis, which explore runs on, keeps a cache of constants in `.hypothesis/` of the
    # working directory; no store, no database and no log is made.
    made = {path for path in everything_under(outside) if path.parts[0] != ".hypothesis"}
    assert made == before


def test_a_command_in_a_subdirectory_uses_the_nearest_workspace_above_it(outside: Path) -> None:
    deeper = outside / "src" / "deeper"
    deeper.mkdir(parents=True)
    assert conveyor(outside, "init").returncode == 0
    created = conveyor(deeper, "pipeline", "create", str(EXAMPLE), "--no-start")
    assert created.returncode == 0, created.stderr
    listed = conveyor(outside / "src", "pipeline", "list")
    assert "hello-site" in listed.stdout
    stores = sorted(p.relative_to(outside) for p in outside.rglob(".conveyor"))
    assert stores == [Path(".conveyor")]


def test_a_conveyor_home_that_does_not_exist_is_refused_until_init_creates_it(
    outside: Path,
) -> None:
    home = outside / "stores" / "team"
    refused = conveyor(outside, "pipeline", "list", CONVEYOR_HOME=str(home))
    assert refused.returncode == 2
    assert NOT_A_WORKSPACE in refused.stderr
    assert f"CONVEYOR_HOME is {home}, which does not exist" in refused.stderr
    assert not (outside / "stores").exists()

    assert conveyor(outside, "init", CONVEYOR_HOME=str(home)).returncode == 0
    again = conveyor(outside, "init", CONVEYOR_HOME=str(home))
    assert again.returncode == 0, again.stderr
    listed = conveyor(outside, "pipeline", "list", "--json", CONVEYOR_HOME=str(home))
    assert listed.returncode == 0, listed.stderr
    assert (home / "conveyor.db").is_file()
    assert not (outside / ".conveyor").exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word, as a firewall or a hung server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def _unreachable(outside: Path, url: str) -> str:
    assert conveyor(outside, "init").returncode == 0  # SQLite: the directory for the store
    done = conveyor(outside, "pipeline", "list", CONVEYOR_DATABASE_URL=url)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "s3cret" not in done.stderr + done.stdout
    message = " ".join(done.stderr.split())
    assert message.startswith("error StoreUnavailableException: cannot connect to the PostgreSQL")
    return message


def test_a_refused_connection_names_the_host_port_and_database_without_the_password(
    outside: Path,
) -> None:
    port = free_port()
    message = _unreachable(outside, f"postgresql://deploy:s3cret@127.0.0.1:{port}/ledger")
    assert f"database 'ledger' on 127.0.0.1:{port} as user 'deploy'" in message
    assert "Connection refused" in message


def test_a_server_that_never_answers_is_given_up_on_after_the_connect_timeout(
    outside: Path, silent_server: int
) -> None:
    # The bound is the subprocess deadline of `conveyor()`: without a connect timeout, libpq
    # waits for the server's first word for ever.
    message = _unreachable(outside, f"postgresql://deploy:s3cret@127.0.0.1:{silent_server}/x")
    assert f"on 127.0.0.1:{silent_server}" in message
    assert "timeout" in message


def test_a_missing_database_is_reported_in_the_servers_own_words(
    outside: Path, postgres_url: str
) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/no_such_database_here"
    message = _unreachable(outside, url.replace("postgres@", "postgres:s3cret@"))
    assert 'database "no_such_database_here" does not exist' in message


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_init_sets_the_store_up_and_running_it_again_keeps_everything(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if store == "postgresql" else None
    ws = Workspace(tmp_path, database_url=url)
    ws.write("pipeline.json", EXAMPLE.read_text())
    ws.run("pipeline", "create", "pipeline.json", "--no-start")
    again = ws.run("init")
    assert "workspace ready" in again.stdout
    assert ws.json("pipeline", "list")["pipelines"][0]["name"] == "hello-site"
