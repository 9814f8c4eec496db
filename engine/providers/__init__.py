"""Action providers: the local equivalents of CodePipeline's built-in action types."""

from __future__ import annotations

from engine.providers.base import Provider
from engine.providers.codebuild import CodeBuildProvider
from engine.providers.git_source import GitSourceProvider
from engine.providers.s3_deploy import S3DeployProvider
from engine.providers.s3_source import S3SourceProvider
from engine.providers.shell import ShellProvider

_PROVIDERS: dict[str, Provider] = {
    "git-source": GitSourceProvider(),
    "s3-source": S3SourceProvider(),
    "codebuild": CodeBuildProvider(),
    "shell": ShellProvider(),
    "s3-deploy": S3DeployProvider(),
}


def provider_for(kind: str) -> Provider:
    """The provider for a catalogue kind; KeyError for kinds no provider runs."""
    try:
        return _PROVIDERS[kind]
    except KeyError:
        raise KeyError(f"no provider runs actions of kind '{kind}'") from None
