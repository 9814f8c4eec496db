"""Providers against real git repositories, real shell commands and real files in tmp_path."""

from __future__ import annotations

import hashlib
import os
import subprocess
import textwrap
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from engine.providers import provider_for
from engine.providers.base import ActionRequest
from tests.support.processes import process_group_of, wait_until_group_gone
from tests.support.providers import Run, provider_runner

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Lovelace",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Lovelace",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def write(root: Path, files: Mapping[str, str]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Run a provider kind with a request whose unspecified fields get workable defaults."""
    return provider_runner(tmp_path, category="Build")


def log_of(request: ActionRequest) -> str:
    return request.log_path.read_text()


# ---------------------------------------------------------------- git source


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real repository on `main` with two commits and a `feature` branch of its own."""
    root = tmp_path / "app"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, {"README.md": "first\n", "old.txt": "gone later\n"})
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Initial commit")
    (root / "old.txt").unlink()
    write(root, {"src/app.py": "print('v2')\n", "run.sh": "echo run\n"})
    (root / "run.sh").chmod(0o755)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Add the app\n\nLonger body.")
    git(root, "branch", "feature", "HEAD~1")
    return root


def test_git_source_outputs_the_tip_tree_without_dot_git_and_codecommit_variables(
    run: Run, repo: Path
) -> None:
    outcome, request = run(
        "git-source",
        category="Source",
        configuration={"RepositoryName": "app"},
        output_artifacts={"SourceArtifact": ()},
    )
    assert outcome.succeeded, outcome.error_message
    tree = outcome.output_artifacts["SourceArtifact"]
    assert files_under(tree) == {"README.md", "src/app.py", "run.sh"}
    assert os.access(tree / "run.sh", os.X_OK)
    sha = git(repo, "rev-parse", "HEAD")
    variables = outcome.output_variables
    assert variables["CommitId"] == sha
    assert variables["BranchName"] == "main"
    assert variables["CommitMessage"] == "Add the app\n\nLonger body."
    assert variables["RepositoryName"] == "app"
    assert variables["AuthorName"] == "Ada Lovelace"
    assert variables["AuthorEmail"] == "ada@example.com"
    assert {"AuthorDate", "CommitterDate"} <= variables.keys()
    assert outcome.revision is not None
    assert outcome.revision.revision_id == sha
    assert outcome.revision.revision_change_id == sha[:7]
    assert outcome.revision.summary == "Add the app"
    assert outcome.revision.created.utcoffset() is not None
    assert "git archive" in log_of(request)


def test_git_source_takes_the_configured_branch(run: Run, repo: Path) -> None:
    outcome, _ = run(
        "git-source",
        configuration={"RepositoryName": str(repo), "BranchName": "feature"},
        output_artifacts={"Src": ()},
    )
    assert outcome.succeeded, outcome.error_message
    assert files_under(outcome.output_artifacts["Src"]) == {"README.md", "old.txt"}
    assert outcome.output_variables["CommitId"] == git(repo, "rev-parse", "feature")
    assert outcome.output_variables["BranchName"] == "feature"


def test_git_source_accepts_github_owner_and_repo_as_a_relative_path(
    run: Run, repo: Path, tmp_path: Path
) -> None:
    (tmp_path / "acme").mkdir()
    repo.rename(tmp_path / "acme" / "app")
    outcome, _ = run(
        "git-source",
        configuration={"Owner": "acme", "Repo": "app", "Branch": "main"},
        output_artifacts={"Src": ()},
    )
    assert outcome.succeeded, outcome.error_message
    assert outcome.output_variables["RepositoryName"] == "app"


def test_git_source_clone_ref_format_keeps_the_full_history(run: Run, repo: Path) -> None:
    outcome, _ = run(
        "git-source",
        configuration={"RepositoryUrl": str(repo), "OutputArtifactFormat": "CODEBUILD_CLONE_REF"},
        output_artifacts={"Src": ()},
    )
    assert outcome.succeeded, outcome.error_message
    clone = outcome.output_artifacts["Src"]
    assert (clone / ".git").is_dir()
    assert git(clone, "rev-list", "--count", "HEAD") == "2"


def test_git_source_without_the_repository_fails_with_a_configuration_error(
    run: Run, tmp_path: Path
) -> None:
    outcome, request = run(
        "git-source", configuration={"RepositoryName": "missing"}, output_artifacts={"S": ()}
    )
    assert not outcome.succeeded
    assert outcome.error_code == "ConfigurationError"
    assert "RepositoryName 'missing'" in (outcome.error_message or "")
    assert "ConfigurationError" in log_of(request)

    outcome, _ = run("git-source", configuration={}, output_artifacts={"S": ()})
    assert outcome.error_code == "ConfigurationError"
    assert "RepositoryName" in (outcome.error_message or "")


def test_git_source_with_an_unknown_branch_reports_the_revision_unavailable(
    run: Run, repo: Path
) -> None:
    outcome, _ = run(
        "git-source",
        configuration={"RepositoryName": str(repo), "BranchName": "nope"},
        output_artifacts={"S": ()},
    )
    assert not outcome.succeeded
    assert outcome.error_code == "RevisionUnavailable"
    assert "BranchName 'nope'" in (outcome.error_message or "")


# ---------------------------------------------------------------- S3 source


def test_s3_source_extracts_a_zip_object_and_reports_its_version(run: Run, tmp_path: Path) -> None:
    bucket = tmp_path / "buckets" / "releases"
    bucket.mkdir(parents=True)
    archive = bucket / "app" / "bundle.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("index.html", "<h1>hi</h1>")
        bundle.writestr("js/app.js", "console.log(1)")
    content = archive.read_bytes()

    outcome, _ = run(
        "s3-source",
        configuration={"S3Bucket": "releases", "S3ObjectKey": "app/bundle.zip"},
        output_artifacts={"Site": ()},
    )
    assert outcome.succeeded, outcome.error_message
    assert files_under(outcome.output_artifacts["Site"]) == {"index.html", "js/app.js"}
    assert outcome.output_variables == {
        "ETag": hashlib.md5(content).hexdigest(),
        "VersionId": hashlib.sha256(content).hexdigest(),
        "S3ObjectKey": "app/bundle.zip",
    }
    assert outcome.revision is not None
    assert outcome.revision.revision_id == hashlib.sha256(content).hexdigest()
    assert outcome.revision.summary == "app/bundle.zip"


def test_s3_source_places_a_plain_object_as_is_and_fails_clearly_when_missing(
    run: Run, tmp_path: Path
) -> None:
    write(tmp_path / "buckets" / "data", {"config.json": "{}"})
    outcome, _ = run(
        "s3-source",
        configuration={"S3Bucket": "data", "S3ObjectKey": "config.json"},
        output_artifacts={"Cfg": ()},
    )
    assert outcome.succeeded, outcome.error_message
    assert (outcome.output_artifacts["Cfg"] / "config.json").read_text() == "{}"

    outcome, _ = run(
        "s3-source",
        configuration={"S3Bucket": "data", "S3ObjectKey": "other.json"},
        output_artifacts={"Cfg": ()},
    )
    assert outcome.error_code == "RevisionUnavailable"
    assert "S3ObjectKey 'other.json'" in (outcome.error_message or "")


# ---------------------------------------------------------------- CodeBuild


def source_with(tmp_path: Path, buildspec: str, files: Mapping[str, str] | None = None) -> Path:
    root = tmp_path / "source"
    write(root, {"buildspec.yml": textwrap.dedent(buildspec), **(files or {})})
    return root


def test_codebuild_runs_phases_in_order_in_one_session_and_exports_variables(
    run: Run, tmp_path: Path
) -> None:
    source = source_with(
        tmp_path,
        """
        version: 0.2
        env:
          variables:
            GREETING: hello
          exported-variables:
            - IMAGE_TAG
            - GREETING
        phases:
          install:
            commands:
              - echo install >> order.txt
          pre_build:
            commands:
              - export IMAGE_TAG="v-$(cat order.txt | wc -l)"
              - cd sub
          build:
            commands:
              - echo "build $IMAGE_TAG in $(basename "$PWD")" >> ../order.txt
          post_build:
            commands:
              - echo "post $GREETING $OVERRIDDEN" >> ../order.txt
        """,
        {"sub/.keep": ""},
    )
    outcome, request = run(
        "codebuild",
        configuration={
            "EnvironmentVariables": '[{"name": "OVERRIDDEN", "value": "yes", "type": "PLAINTEXT"}]'
        },
        input_artifacts={"SourceArtifact": source},
    )
    assert outcome.succeeded, outcome.error_message
    order = (request.workdir / "src" / "order.txt").read_text().splitlines()
    assert order == ["install", "build v-1 in sub", "post hello yes"]
    assert outcome.output_variables == {"IMAGE_TAG": "v-1", "GREETING": "hello"}
    assert outcome.summary == "build succeeded in 4 phase(s)"
    log = log_of(request)
    assert "[Build] phase build: echo" in log
    assert log.index("phase install") < log.index("phase pre_build") < log.index("phase build:")


def test_codebuild_build_failure_still_runs_post_build_and_fails_the_action(
    run: Run, tmp_path: Path
) -> None:
    source = source_with(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            commands:
              - echo compiling
              - exit_with() { return "$1"; }; exit_with 2
              - echo never
            finally:
              - echo cleanup > cleaned.txt
          post_build:
            commands:
              - echo "succeeding=$CODEBUILD_BUILD_SUCCEEDING" > post.txt
        """,
    )
    outcome, request = run("codebuild", input_artifacts={"Src": source})
    assert not outcome.succeeded
    assert outcome.error_code == "JobFailed"
    assert outcome.error_message == (
        'phase BUILD: command `exit_with() { return "$1"; }; exit_with 2` exited 2'
    )
    src = request.workdir / "src"
    assert (src / "cleaned.txt").exists()
    assert (src / "post.txt").read_text() == "succeeding=0\n"
    log = log_of(request)
    assert "[Build] exit code 2" in log
    assert "\nnever\n" not in log


def test_codebuild_pre_build_failure_stops_the_build(run: Run, tmp_path: Path) -> None:
    source = source_with(
        tmp_path,
        """
        version: 0.2
        phases:
          pre_build:
            commands:
              - "false"
          build:
            commands:
              - touch built
          post_build:
            commands:
              - touch posted
        """,
    )
    outcome, request = run("codebuild", input_artifacts={"Src": source})
    assert outcome.error_message == "phase PRE_BUILD: command `false` exited 1"
    assert not (request.workdir / "src" / "built").exists()
    assert not (request.workdir / "src" / "posted").exists()


def test_codebuild_artifacts_honour_base_directory_discard_paths_and_secondaries(
    run: Run, tmp_path: Path
) -> None:
    source = source_with(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            commands:
              - mkdir -p dist/js dist/css reports
              - echo a > dist/js/app.js && echo b > dist/css/site.css && echo c > dist/index.html
              - echo '<xml/>' > reports/junit.xml
        artifacts:
          base-directory: dist
          files:
            - '**/*'
          secondary-artifacts:
            Flat:
              base-directory: dist
              files: ['**/*.js', '**/*.css']
              discard-paths: yes
            Reports:
              files: reports/*.xml
        """,
    )
    outcome, _ = run(
        "codebuild",
        input_artifacts={"Src": source},
        output_artifacts={"Site": (), "Flat": (), "Reports": ()},
    )
    assert outcome.succeeded, outcome.error_message
    outputs = outcome.output_artifacts
    assert files_under(outputs["Site"]) == {"js/app.js", "css/site.css", "index.html"}
    assert files_under(outputs["Flat"]) == {"app.js", "site.css"}
    assert files_under(outputs["Reports"]) == {"reports/junit.xml"}


def test_codebuild_reads_secondary_inputs_and_an_inline_buildspec(run: Run, tmp_path: Path) -> None:
    primary = write(tmp_path / "primary", {"main.txt": "main"})
    extra = write(tmp_path / "extra", {"lib.txt": "lib"})
    inline = (
        "version: 0.2\n"
        "phases: {build: {commands: ['cat main.txt $CODEBUILD_SRC_DIR_Extra/lib.txt >both.txt']}}"
        "\n"
        "artifacts: {files: both.txt}\n"
    )
    outcome, _ = run(
        "codebuild",
        configuration={"BuildSpec": inline, "PrimarySource": "Main"},
        input_artifacts={"Extra": extra, "Main": primary},
        output_artifacts={"Out": ()},
    )
    assert outcome.succeeded, outcome.error_message
    assert (outcome.output_artifacts["Out"] / "both.txt").read_text() == "mainlib"


def test_codebuild_without_a_buildspec_fails_naming_the_key(run: Run, tmp_path: Path) -> None:
    empty = write(tmp_path / "empty", {"x": ""})
    outcome, _ = run("codebuild", input_artifacts={"Src": empty})
    assert outcome.error_code == "ConfigurationError"
    assert "BuildSpec" in (outcome.error_message or "")
    assert "buildspec.yml" in (outcome.error_message or "")


def test_codebuild_timeout_kills_the_process_group_and_reports_timed_out(
    run: Run, tmp_path: Path
) -> None:
    source = source_with(
        tmp_path,
        """
        version: 0.2
        phases:
          build:
            commands:
              - sleep 30 & echo $! > bg.pid; sleep 30
        """,
    )
    started = time.monotonic()
    outcome, request = run("codebuild", input_artifacts={"Src": source}, timeout_seconds=1.0)
    elapsed = time.monotonic() - started
    assert outcome.error_code == "TimedOut"
    assert "phase BUILD" in (outcome.error_message or "")
    # It did not wait for the 30 s commands: a bound on what happened, not a speed target.
    assert elapsed < 25
    background = int((request.workdir / "src" / "bg.pid").read_text())
    # Killed members stay in the group until reaped; wait for that, bounded by a deadline.
    group = process_group_of(background)
    if group is not None:
        wait_until_group_gone(group)
    with pytest.raises(ProcessLookupError):
        os.kill(background, 0)


# ---------------------------------------------------------------- Shell / Commands


def test_shell_runs_commands_over_the_first_input_with_every_input_on_hand(
    run: Run, tmp_path: Path
) -> None:
    app = write(tmp_path / "app", {"app.txt": "app"})
    config = write(tmp_path / "config", {"prod.env": "ENV=prod"})
    outcome, request = run(
        "shell",
        configuration={"Commands": "mkdir -p out\ncat app.txt $CONVEYOR_INPUT_Config/prod.env"},
        commands=("cp app.txt out/ && echo done > out/done.txt", "echo note > notes.md"),
        input_artifacts={"App": app, "Config": config},
        output_artifacts={"Bundle": ("out/**/*",), "Everything": ()},
    )
    assert outcome.succeeded, outcome.error_message
    assert files_under(outcome.output_artifacts["Bundle"]) == {"out/app.txt", "out/done.txt"}
    assert {"app.txt", "notes.md"} <= files_under(outcome.output_artifacts["Everything"])
    log = log_of(request)
    assert "appENV=prod" in log
    assert "[Build] $ echo note > notes.md" in log


def test_shell_reads_output_variables_from_the_environment_and_the_variables_file(
    run: Run,
) -> None:
    outcome, _ = run(
        "shell",
        commands=(
            "export VERSION=1.2.3",
            "echo 'DIGEST=sha256:abc=def' >> \"$CONVEYOR_OUTPUT_VARIABLES\"",
        ),
        output_variable_names=("VERSION",),
    )
    assert outcome.succeeded, outcome.error_message
    assert outcome.output_variables == {"VERSION": "1.2.3", "DIGEST": "sha256:abc=def"}


def test_shell_failing_command_names_the_command_and_its_exit_code(run: Run) -> None:
    outcome, request = run("shell", commands=("echo ok", "ls /definitely/not/here", "echo late"))
    assert not outcome.succeeded
    assert outcome.error_code == "JobFailed"
    assert outcome.error_message == "command `ls /definitely/not/here` exited 2"
    log = log_of(request)
    assert "exit code 2" in log
    assert "$ echo late" not in log


def test_shell_with_no_commands_is_a_configuration_error(run: Run) -> None:
    outcome, _ = run("shell")
    assert outcome.error_code == "ConfigurationError"
    assert "Commands" in (outcome.error_message or "")


def test_shell_timeout_reports_timed_out(run: Run) -> None:
    started = time.monotonic()
    outcome, _ = run("shell", commands=("sleep 30",), timeout_seconds=0.5)
    assert outcome.error_code == "TimedOut"
    assert "sleep 30" in (outcome.error_message or "")
    # It did not wait for the 30 s command: a bound on what happened, not a speed target.
    assert time.monotonic() - started < 25


# ---------------------------------------------------------------- S3 deploy


def test_s3_deploy_extracts_the_artifact_under_the_key_prefix(run: Run, tmp_path: Path) -> None:
    site = write(tmp_path / "site", {"index.html": "hi", "css/a.css": "x"})
    outcome, _ = run(
        "s3-deploy",
        category="Deploy",
        configuration={"BucketName": "www", "Extract": "true", "ObjectKey": "v1"},
        input_artifacts={"Site": site},
    )
    assert outcome.succeeded, outcome.error_message
    target = tmp_path / "buckets" / "www" / "v1"
    assert files_under(target) == {"index.html", "css/a.css"}
    assert outcome.summary == f"deployed 2 file(s) to {target}"
    assert outcome.external_execution_url == target.as_uri()


def test_s3_deploy_without_extract_zips_the_artifact_to_the_object_key(
    run: Run, tmp_path: Path
) -> None:
    site = write(tmp_path / "site", {"index.html": "hi", "css/a.css": "x"})
    bucket = tmp_path / "abs-bucket"
    outcome, _ = run(
        "s3-deploy",
        configuration={"BucketName": str(bucket), "Extract": "false", "ObjectKey": "r/site.zip"},
        input_artifacts={"Site": site},
    )
    assert outcome.succeeded, outcome.error_message
    with zipfile.ZipFile(bucket / "r" / "site.zip") as bundle:
        assert sorted(bundle.namelist()) == ["css/a.css", "index.html"]
        assert bundle.read("index.html") == b"hi"

    outcome, _ = run(
        "s3-deploy",
        configuration={"BucketName": "www", "Extract": "false"},
        input_artifacts={"Site": site},
    )
    assert outcome.error_code == "ConfigurationError"
    assert "ObjectKey" in (outcome.error_message or "")


def test_unknown_provider_kinds_raise_key_error() -> None:
    with pytest.raises(KeyError):
        provider_for("manual-approval")
