"""The git source provider (Git, CodeCommit, CodeStarSourceConnection, GitHub) on local git."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from domain.catalogue import REPOSITORY_KEYS
from domain.vocabulary import ActionCategory
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

_REPOSITORY_KEYS = REPOSITORY_KEYS  # declared once, with the provider, in the catalogue
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^[^/\s]+@[^/\s]+:")
# CodePipeline caps CommitMessage at 100 KB.
_MAX_MESSAGE_BYTES = 100 * 1024
_SHA = re.compile(r"^[0-9a-f]{40,64}$")
# The transports git may use for a configured location; `ext::` (runs a command) is not one.
_ALLOWED_PROTOCOLS = "file:git:http:https:ssh"


def _not_an_option(key: str, value: str) -> str:
    """`value`, refused when git could read it as an option instead of a location or name."""
    if value.startswith("-"):
        raise config_error(
            f"{key} '{value}': must not start with '-' (git would read it as an option)"
        )
    return value


def _repository(request: ActionRequest) -> tuple[str, str, str]:
    """(config key, configured value, location git can read) for the configured repository."""
    config = request.configuration
    for key in _REPOSITORY_KEYS:
        value = config.get(key, "").strip()
        if value:
            return key, _not_an_option(key, value), _locate(request, key, value)
    owner, repo = config.get("Owner", "").strip(), config.get("Repo", "").strip()
    if owner and repo:
        _not_an_option("Owner", owner)
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


@dataclass(frozen=True)
class _Git:
    """Runs git for one action: in its workdir, with its environment, log and deadline."""

    workdir: Path
    env: dict[str, str]
    log: ActionLog
    deadline: Deadline

    def __call__(self, *args: str) -> Completed:
        self.log.line("$ git " + " ".join(shlex.quote(a) for a in args))
        result = run(
            ["git", *args],
            cwd=self.workdir,
            env=self.env,
            log=self.log,
            deadline=self.deadline,
            capture=True,
        )
        if result.timed_out:
            raise ActionFailure(
                TIMED_OUT, f"git {args[0]} timed out after {self.deadline.seconds:g} s"
            )
        return result


@dataclass(frozen=True)
class _Source:
    """The configured repository and branch; `branch` is empty until resolved."""

    key: str  # the configuration key that named the repository
    configured: str
    location: str
    branch_key: str
    branch: str


@dataclass(frozen=True)
class _Commit:
    sha: str
    author: str
    email: str
    authored: str
    committed: str
    message: str

    @property
    def first_line(self) -> str:
        return self.message.splitlines()[0] if self.message else ""


class GitSourceProvider:
    """Outputs the tree at the branch tip and CodeCommit's output variables."""

    def run(self, request: ActionRequest) -> ActionOutcome:
        log = ActionLog(request.log_path, ActionCategory.SOURCE)
        return guarded(request, lambda r: self._run(r, log), log.line)

    def _run(self, request: ActionRequest, log: ActionLog) -> ActionOutcome:
        source = _configured_source(request)
        wanted = _wanted_commit(request)
        request.workdir.mkdir(parents=True, exist_ok=True)
        env = base_environment({"GIT_ALLOW_PROTOCOL": _ALLOWED_PROTOCOLS})
        git = _Git(request.workdir, env, log, Deadline(request.timeout_seconds))
        branch = f", branch {source.branch}" if source.branch else ""
        log.line(f"repository {source.location}{branch}")
        source = _resolve_branch(git, source)
        name = next(iter(request.output_artifacts), None) or "SourceArtifact"
        output = request.workdir / "out" / name
        clone_ref = (
            request.configuration.get("OutputArtifactFormat", "").upper() == "CODEBUILD_CLONE_REF"
        )
        if clone_ref:
            git_dir, ref = _clone(git, source, output)
        else:
            git_dir, ref = _fetch(git, source, whole_branch=wanted is not None)
        if wanted is not None:
            ref = _pin(git, git_dir, source, ref, wanted)
            if clone_ref:
                _check_out(git, output, wanted)
        commit = _read_commit(git, git_dir, ref, source.branch)
        if not clone_ref:
            _export_tree(git, git_dir, commit.sha, output)
        log.line(f"commit {commit.sha[:7]} on {source.branch}: {commit.first_line}")
        return _outcome(source, commit, name, output)


def _wanted_commit(request: ActionRequest) -> str | None:
    """The COMMIT_ID StartPipelineExecution asked for (sourceRevisions), if any."""
    revision = request.revision
    if not revision:
        return None
    value = revision.get("revisionValue", "")
    # The domain checked it already (domain/starts.py); it reaches git, so it is checked again.
    if revision.get("revisionType") != "COMMIT_ID" or not _SHA.fullmatch(value):
        raise config_error(f"sourceRevisions: '{value}' is not a COMMIT_ID this source can run")
    return value


def _pin(git: _Git, git_dir: Path, source: _Source, tip: str, wanted: str) -> str:
    """`wanted`, once it is known to be a commit on the configured branch (reachable from
    its tip): a requested revision never runs code from outside the branch."""
    reachable = git(
        f"--git-dir={git_dir}", "merge-base", "--is-ancestor", "--end-of-options", wanted, tip
    )
    if reachable.returncode != 0:
        raise ActionFailure(
            REVISION_UNAVAILABLE,
            f"COMMIT_ID {wanted}: no such commit on {source.branch_key} '{source.branch}' "
            f"of {source.location}",
        )
    return wanted


def _check_out(git: _Git, clone: Path, wanted: str) -> None:
    # `--` ends the revision: what follows could only be paths, and there are none.
    checked_out = git("-C", str(clone), "checkout", "--quiet", "--detach", wanted, "--")
    if checked_out.returncode != 0:
        raise ActionFailure(JOB_FAILED, f"checking out {wanted} failed")


def _configured_source(request: ActionRequest) -> _Source:
    key, configured, location = _repository(request)
    config = request.configuration
    branch_key = "BranchName" if config.get("BranchName") else "Branch"
    branch = _not_an_option(branch_key, config.get(branch_key, "").strip())
    return _Source(key, configured, location, branch_key, branch)


def _resolve_branch(git: _Git, source: _Source) -> _Source:
    """The source with its branch checked to exist, or HEAD's branch when none is configured."""
    location, branch = source.location, source.branch
    probe = ["ls-remote", "--symref", "--", location, "HEAD"]
    if branch:
        probe.append(f"refs/heads/{branch}")
    listed = git(*probe)
    if listed.returncode != 0:
        raise config_error(
            f"{source.key} '{source.configured}': {location} is not a readable git repository"
        )
    refs, head_branch = _parse_ls_remote(listed.stdout)
    if branch:
        if f"refs/heads/{branch}" not in refs:
            raise ActionFailure(
                REVISION_UNAVAILABLE,
                f"{source.branch_key} '{branch}': no such branch in {location}",
            )
        return source
    if head_branch is None or "HEAD" not in refs:
        raise ActionFailure(
            REVISION_UNAVAILABLE,
            f"{source.key} '{source.configured}': HEAD is not on a branch with commits; "
            "set BranchName",
        )
    return replace(source, branch=head_branch, branch_key="BranchName")


def _clone(git: _Git, source: _Source, output: Path) -> tuple[Path, str]:
    # CodeBuild's clone ref: a full clone, so later actions can run git commands.
    cloned = git(
        "clone", "--quiet", f"--branch={source.branch}", "--", source.location, str(output)
    )
    if cloned.returncode != 0:
        raise ActionFailure(JOB_FAILED, f"git clone of {source.location} failed")
    return output / ".git", "HEAD"


def _fetch(git: _Git, source: _Source, *, whole_branch: bool = False) -> tuple[Path, str]:
    """Only the branch tip (or, to find a requested commit, the branch's history), into a bare
    repository beside the output."""
    git_dir = git.workdir / "fetch.git"
    git("init", "--quiet", "--bare", "--", str(git_dir))
    depth = [] if whole_branch else ["--depth=1"]
    fetched = git(
        f"--git-dir={git_dir}",
        "fetch",
        "--quiet",
        *depth,
        "--no-tags",
        "--",
        source.location,
        f"refs/heads/{source.branch}",
    )
    if fetched.returncode != 0:
        raise ActionFailure(
            REVISION_UNAVAILABLE, f"{source.branch_key} '{source.branch}': fetching it failed"
        )
    return git_dir, "FETCH_HEAD"


def _read_commit(git: _Git, git_dir: Path, ref: str, branch: str) -> _Commit:
    shown = git(
        f"--git-dir={git_dir}",
        "log",
        "-1",
        "--format=%H%x00%an%x00%ae%x00%aI%x00%cI%x00%B",
        "--end-of-options",
        ref,
    )
    if shown.returncode != 0:
        raise ActionFailure(JOB_FAILED, f"cannot read the tip of {branch}")
    sha, author, email, authored, committed, message = shown.stdout.split("\0", 5)
    return _Commit(sha, author, email, authored, committed, message.strip())


def _export_tree(git: _Git, git_dir: Path, sha: str, output: Path) -> None:
    if not _SHA.match(sha):  # it comes from git, but it reaches a shell: checked, then quoted
        raise ActionFailure(JOB_FAILED, f"git reported '{sha}', which is not a commit id")
    output.mkdir(parents=True, exist_ok=True)
    git.log.line(f"$ git archive {sha} | tar -x")
    extracted = run_bash(
        f"git --git-dir={shlex.quote(str(git_dir))} archive --format=tar {shlex.quote(sha)}"
        f" | tar -x -C {shlex.quote(str(output))}",
        cwd=git.workdir,
        env=git.env,
        log=git.log,
        deadline=git.deadline,
    )
    if extracted.timed_out:
        raise ActionFailure(TIMED_OUT, f"exporting {sha} timed out")
    if extracted.returncode != 0:
        raise ActionFailure(JOB_FAILED, f"exporting the tree of {sha} failed")


def _outcome(source: _Source, commit: _Commit, name: str, output: Path) -> ActionOutcome:
    message = commit.message
    encoded = message.encode()
    if len(encoded) > _MAX_MESSAGE_BYTES:
        message = encoded[:_MAX_MESSAGE_BYTES].decode("utf-8", "ignore")
    variables = {
        "CommitId": commit.sha,
        "CommitMessage": message,
        "BranchName": source.branch,
        "AuthorDate": commit.authored,
        "CommitterDate": commit.committed,
        "RepositoryName": _repository_name(source.configured),
        "FullRepositoryName": source.configured,
        "AuthorName": commit.author,
        "AuthorEmail": commit.email,
    }
    location = source.location
    url = location if _URL.match(location) else Path(location).as_uri()
    return ActionOutcome(
        succeeded=True,
        summary=commit.first_line,
        output_artifacts={name: output},
        output_variables=variables,
        revision=Revision(
            revision_id=commit.sha,
            revision_change_id=commit.sha[:7],
            summary=commit.first_line,
            created=datetime.fromisoformat(commit.committed).astimezone(UTC),
            url=url,
        ),
        external_execution_id=commit.sha,
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
