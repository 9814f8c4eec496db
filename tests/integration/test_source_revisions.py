"""Source providers given a requested revision (sourceRevisions): real git, real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_providers import git, write
from tests.support.providers import Run, provider_runner


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return provider_runner(tmp_path, category="Source")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = write(tmp_path / "app", {"app.txt": "one\n"})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    write(root, {"app.txt": "two\n"})
    git(root, "commit", "-q", "-am", "second")
    return root


@pytest.mark.parametrize("output_format", ["CODE_ZIP", "CODEBUILD_CLONE_REF"])
def test_a_requested_commit_on_the_branch_is_what_the_source_outputs(
    run: Run, repo: Path, output_format: str
) -> None:
    first = git(repo, "rev-list", "--max-parents=0", "HEAD")
    outcome, _ = run(
        "git-source",
        configuration={
            "RepositoryUrl": str(repo),
            "BranchName": "main",
            "OutputArtifactFormat": output_format,
        },
        output_artifacts={"Src": ()},
        revision={"revisionType": "COMMIT_ID", "revisionValue": first},
    )
    assert outcome.succeeded, outcome.error_message
    assert (outcome.output_artifacts["Src"] / "app.txt").read_text() == "one\n"
    assert outcome.output_variables["CommitId"] == first
    assert outcome.revision is not None and outcome.revision.revision_id == first


def test_a_value_that_is_not_a_full_commit_id_never_reaches_git(run: Run, repo: Path) -> None:
    outcome, request = run(
        "git-source",
        configuration={"RepositoryUrl": str(repo), "BranchName": "main"},
        output_artifacts={"Src": ()},
        revision={"revisionType": "COMMIT_ID", "revisionValue": "--output=/tmp/x"},
    )
    assert outcome.error_code == "ConfigurationError"
    assert "$ git" not in request.log_path.read_text()


def test_an_s3_object_key_revision_takes_another_object_of_the_bucket(
    run: Run, tmp_path: Path
) -> None:
    write(tmp_path / "buckets" / "data", {"v1.txt": "one", "v2.txt": "two"})
    outcome, _ = run(
        "s3-source",
        configuration={"S3Bucket": "data", "S3ObjectKey": "v2.txt"},
        output_artifacts={"Obj": ()},
        revision={"revisionType": "S3_OBJECT_KEY", "revisionValue": "v1.txt"},
    )
    assert outcome.succeeded, outcome.error_message
    assert (outcome.output_artifacts["Obj"] / "v1.txt").read_text() == "one"
    assert outcome.output_variables["S3ObjectKey"] == "v1.txt"
