"""The git source provider (Git, CodeCommit, CodeStarSourceConnection, GitHub) on local git."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime
from pathlib import Path

from engine.providers.base import (
    JOB_FAILED,
    REVISION_UNAVAILABLE,
    TIMED_OUT,
    ActionFailure,
    ActionOutcome,
    ActionRequest,
    Revision,
    config_error,
    guarded,
)
from engine.providers.process import ActionLog, Completed, Deadline, base_environment, run, run_bash

_REPOSITORY_KEYS = ("RepositoryUrl", "Repository", "RepositoryName", "FullRepositoryId")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/\s]+@[^/\s]+:")
# CodePipeline caps CommitMessage at 100 KB.
_MAX_MESSAGE_BYTES = 100 * 1024


def _repository(request: ActionRequest) -> tuple[str, str, str]:
    """(config key, configured value, location git can read) for the configured repository."""
    config = request.configuration
    for key in _REPOSITORY_KEYS:
        value = config.get(key, "").strip()
        if value:
            return key, value, _locate(request, key, value)
    owner, repo = config.get("Owner", "").strip(), config.get("Repo", "").strip()
    if owner and repo:
        return "Owner/Repo", f"{owner}/{repo}", _locate(request, "Owner/Repo", f"{owner}/{repo}")
    raise config_error(
        "no repository configured: set one of " + ", ".join(_REPOSITORY_KEYS) + " or Owner+Repo"
    )


def _locate(request: ActionRequest, key: str, value: str) -> str:
    if _URL.match(value) and not value.startswith("file://"):
        return value
    path = Path(value.removeprefix("file://")).expanduser()
    if not path.is_absolute():
        path = request.workspace_root / path
    if not path.exists():
        raise config_error(f"{key} '{value}': no git repository at {path}")
    return str(path)


def _repository_name(value: str) -> str:
    tail = value.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return tail.removesuffix(".git") or value


def _git(
    args: list[str], cwd: Path, env: dict[str, str], log: ActionLog, deadline: Deadline
) -> Completed:
    log.line("$ git " + " ".join(shlex.quote(a) for a in args))
    result = run(["git", *args], cwd=cwd, env=env, log=log, deadline=deadline, capture=True)
    if result.timed_out:
        raise ActionFailure(TIMED_OUT, f"git {args[0]} timed out after {deadline.seconds:g} s")
    return result


class GitSourceProvider:
    """Outputs the tree at the branch tip and CodeCommit's output variables."""

    def run(self, request: ActionRequest) -> ActionOutcome:
        log = ActionLog(request.log_path, "Source")
        return guarded(request, lambda r: self._run(r, log), log.line)

    def _run(self, request: ActionRequest, log: ActionLog) -> ActionOutcome:
        deadline = Deadline(request.timeout_seconds)
        key, configured, location = _repository(request)
        config = request.configuration
        branch_key = "BranchName" if config.get("BranchName") else "Branch"
        branch = config.get(branch_key, "").strip()
        env = base_environment({})
        workdir = request.workdir
        workdir.mkdir(parents=True, exist_ok=True)
        log.line(f"repository {location}" + (f", branch {branch}" if branch else ""))

        probe = ["ls-remote", "--symref", location, "HEAD"]
        if branch:
            probe.append(f"refs/heads/{branch}")
        listed = _git(probe, workdir, env, log, deadline)
        if listed.returncode != 0:
            raise config_error(f"{key} '{configured}': {location} is not a readable git repository")
        refs, head_branch = _parse_ls_remote(listed.stdout)
        if not branch:
            if head_branch is None or "HEAD" not in refs:
                raise ActionFailure(
                    REVISION_UNAVAILABLE,
                    f"{key} '{configured}': HEAD is not on a branch with commits; set BranchName",
                )
            branch, branch_key = head_branch, "BranchName"
        elif f"refs/heads/{branch}" not in refs:
            raise ActionFailure(
                REVISION_UNAVAILABLE,
                f"{branch_key} '{branch}': no such branch in {location}",
            )

        name = next(iter(request.output_artifacts), None) or "SourceArtifact"
        output = workdir / "out" / name
        clone_ref = config.get("OutputArtifactFormat", "").upper() == "CODEBUILD_CLONE_REF"
        if clone_ref:
            # CodeBuild's clone ref: a full clone, so later actions can run git commands.
            cloned = _git(
                ["clone", "--quiet", "--branch", branch, "--", location, str(output)],
                workdir,
                env,
                log,
                deadline,
            )
            if cloned.returncode != 0:
                raise ActionFailure(JOB_FAILED, f"git clone of {location} failed")
            git_dir = output / ".git"
            commit = "HEAD"
        else:
            git_dir = workdir / "fetch.git"
            _git(["init", "--quiet", "--bare", str(git_dir)], workdir, env, log, deadline)
            fetched = _git(
                [
                    f"--git-dir={git_dir}",
                    "fetch",
                    "--quiet",
                    "--depth=1",
                    "--no-tags",
                    location,
                    f"refs/heads/{branch}",
                ],
                workdir,
                env,
                log,
                deadline,
            )
            if fetched.returncode != 0:
                raise ActionFailure(
                    REVISION_UNAVAILABLE, f"{branch_key} '{branch}': fetching it failed"
                )
            commit = "FETCH_HEAD"

        shown = _git(
            [
                f"--git-dir={git_dir}",
                "log",
                "-1",
                "--format=%H%x00%an%x00%ae%x00%aI%x00%cI%x00%B",
                commit,
            ],
            workdir,
            env,
            log,
            deadline,
        )
        if shown.returncode != 0:
            raise ActionFailure(JOB_FAILED, f"cannot read the tip of {branch}")
        sha, author, email, authored, committed, message = shown.stdout.split("\0", 5)
        message = message.strip()

        if not clone_ref:
            output.mkdir(parents=True, exist_ok=True)
            log.line(f"$ git archive {sha} | tar -x")
            extracted = run_bash(
                f"git --git-dir={shlex.quote(str(git_dir))} archive --format=tar {sha}"
                f" | tar -x -C {shlex.quote(str(output))}",
                cwd=workdir,
                env=env,
                log=log,
                deadline=deadline,
            )
            if extracted.timed_out:
                raise ActionFailure(TIMED_OUT, f"exporting {sha} timed out")
            if extracted.returncode != 0:
                raise ActionFailure(JOB_FAILED, f"exporting the tree of {sha} failed")

        created = datetime.fromisoformat(committed).astimezone(UTC)
        first_line = message.splitlines()[0] if message else ""
        encoded = message.encode()
        if len(encoded) > _MAX_MESSAGE_BYTES:
            message = encoded[:_MAX_MESSAGE_BYTES].decode("utf-8", "ignore")
        repo_name = _repository_name(configured)
        variables = {
            "CommitId": sha,
            "CommitMessage": message,
            "BranchName": branch,
            "AuthorDate": authored,
            "CommitterDate": committed,
            "RepositoryName": repo_name,
            "FullRepositoryName": configured,
            "AuthorName": author,
            "AuthorEmail": email,
        }
        url = location if _URL.match(location) else Path(location).as_uri()
        log.line(f"commit {sha[:7]} on {branch}: {first_line}")
        return ActionOutcome(
            succeeded=True,
            summary=first_line,
            output_artifacts={name: output},
            output_variables=variables,
            revision=Revision(
                revision_id=sha,
                revision_change_id=sha[:7],
                summary=first_line,
                created=created,
                url=url,
            ),
            external_execution_id=sha,
            external_execution_url=url,
        )


def _parse_ls_remote(text: str) -> tuple[set[str], str | None]:
    refs: set[str] = set()
    head_branch = None
    for line in text.splitlines():
        if line.startswith("ref: "):
            target, _, ref = line[5:].partition("\t")
            if ref == "HEAD":
                head_branch = target.removeprefix("refs/heads/")
            continue
        _, _, ref = line.partition("\t")
        if ref:
            refs.add(ref)
    return refs, head_branch
