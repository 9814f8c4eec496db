"""The workspace secrets store: values encrypted with a key file only its owner can read."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.errors import ValidationException

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

    from domain.definition import PipelineDeclaration

# Where the keys live (another key, the audit signing key, shares the folder).
KEYS_DIR = "keys"
KEY_FILE = "secrets.key"
STORE_FILE = "secrets.json"
# AWS Secrets Manager's characters for a secret name (Parameter Store's are a subset).
_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
# The EnvironmentVariables types (and buildspec env keys) that name a secret.
SECRET_TYPES = ("PARAMETER_STORE", "SECRETS_MANAGER")
SECRET_ENV_KEYS = ("parameter-store", "secrets-manager")
MASK = "***"


class SecretsError(ValidationException):
    """A secret that is missing, misnamed, or a store that cannot be read as it should."""


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise SecretsError(
            f"secret name '{name}': use 1 to 512 letters, digits and /_+=.@- [secret.name]"
        )
    return name


def _private_dir(path: Path) -> Path:
    """`path` as a 0700 folder of its own: created if absent, never followed if a link."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=False)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise SecretsError(f"{path} must be a folder, not a link or a file [secret.keys]")
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def _write_private(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write a 0600 file without following a link; `exclusive` refuses an existing one."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW
    flags |= os.O_EXCL if exclusive else os.O_TRUNC
    descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _read_private(path: Path) -> bytes:
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(descriptor, "rb") as handle:
        return handle.read()


class SecretStore:
    """Named secrets of one workspace (`home` is its `.conveyor` folder)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.key_path = home / KEYS_DIR / KEY_FILE
        self.path = home / STORE_FILE

    # ----- reading ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(self._tokens())

    def get(self, name: str) -> str | None:
        token = self._tokens().get(name)
        if token is None:
            return None
        return self.decrypt(token, f"secret '{name}'")

    # ----- encrypting values kept elsewhere (access keys' secrets, in their events) -----------

    def encrypt(self, value: str) -> str:
        """`value` encrypted with the workspace key (made on first use), as Fernet token text."""
        return self._fernet(create=True).encrypt(value.encode("utf-8")).decode()

    def decrypt(self, token: str, what: str) -> str:
        """The value `encrypt` made `token` from; `what` names it in the error if it can't be."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet(create=False).decrypt(token.encode()).decode("utf-8")
        except InvalidToken:
            raise SecretsError(
                f"{what} cannot be decrypted with {self.key_path}: the key changed "
                "since it was set; set it again [secret.key]"
            ) from None

    def missing(self, names: Iterable[str]) -> list[str]:
        stored = self._tokens()
        return sorted({name for name in names if name not in stored})

    # ----- writing ---------------------------------------------------------------------------

    def set(self, name: str, value: str) -> None:
        check_name(name)
        if not value:
            raise SecretsError(f"secret '{name}': the value is empty [secret.empty]")
        tokens = self._tokens()
        tokens[name] = self.encrypt(value)
        self._save(tokens)

    def delete(self, name: str) -> bool:
        tokens = self._tokens()
        if tokens.pop(name, None) is None:
            return False
        self._save(tokens)
        return True

    # ----- files -----------------------------------------------------------------------------

    def _tokens(self) -> dict[str, str]:
        try:
            raw = _read_private(self.path)
        except FileNotFoundError:
            return {}
        try:
            document: Any = json.loads(raw)
        except (ValueError, RecursionError):
            document = None
        if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
            raise SecretsError(f"{self.path} is not a secrets store written by Conveyor")
        return {str(k): v for k, v in document.items()}

    def _save(self, tokens: dict[str, str]) -> None:
        # Written beside, then renamed over: a reader sees the old store or the new one.
        partial = self.path.with_name(f".{STORE_FILE}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        _write_private(partial, json.dumps(tokens, sort_keys=True).encode(), exclusive=True)
        os.replace(partial, self.path)

    def _fernet(self, *, create: bool) -> Fernet:
        from cryptography.fernet import Fernet

        try:
            return Fernet(_read_private(self.key_path))
        except FileNotFoundError:
            if not create:
                raise SecretsError(f"no secrets key at {self.key_path} [secret.key]") from None
        _private_dir(self.home / KEYS_DIR)
        # Another process may make it first: then its key is the one used.
        with contextlib.suppress(FileExistsError):
            _write_private(self.key_path, Fernet.generate_key(), exclusive=True)
        return Fernet(_read_private(self.key_path))


# ----- where a definition names secrets ------------------------------------------------------


@dataclass(frozen=True)
class SecretReference:
    where: str  # a JSON path into the definition
    name: str


def secret_references(declaration: PipelineDeclaration) -> list[SecretReference]:
    """Every secret the definition names, in CodeBuild's EnvironmentVariables and inline
    buildspecs (a buildspec file in the source is only read when the build runs)."""
    found: list[SecretReference] = []
    for stage in declaration.stages:
        for action in stage.actions:
            where = f"stages.{stage.name}.actions.{action.name}.configuration"
            config = action.configuration
            found += _in_environment_variables(
                config.get("EnvironmentVariables", ""), f"{where}.EnvironmentVariables"
            )
            found += _in_buildspec(config.get("BuildSpec", ""), f"{where}.BuildSpec")
    return [ref for ref in found if "#{" not in ref.name]


def _in_environment_variables(raw: str, where: str) -> Iterator[SecretReference]:
    try:
        entries = json.loads(raw) if raw.strip() else []
    except (ValueError, RecursionError):
        return
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict) and str(entry.get("type", "")).upper() in SECRET_TYPES:
            yield SecretReference(f"{where}[{index}]", str(entry.get("value", "")))


def _in_buildspec(raw: str, where: str) -> Iterator[SecretReference]:
    if "\n" not in raw.strip() and "version:" not in raw:
        return
    import yaml

    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError:
        return
    env = document.get("env") if isinstance(document, dict) else None
    for key in SECRET_ENV_KEYS:
        block = env.get(key) if isinstance(env, dict) else None
        for variable, name in (block or {}).items() if isinstance(block, dict) else ():
            yield SecretReference(f"{where} env.{key}.{variable}", str(name))


def require_secrets(declaration: PipelineDeclaration, store: SecretStore) -> None:
    """Refuse a definition that names a secret the workspace store does not hold."""
    references = secret_references(declaration)
    if not references:
        return  # the common case reads no file
    missing = set(store.missing(ref.name for ref in references))
    problems = [
        f"{ref.where}: secret '{ref.name}' is not in the workspace secrets store; "
        f"add it with `conveyor secrets set {ref.name}` [secret.missing]"
        for ref in references
        if ref.name in missing
    ]
    if problems:
        raise SecretsError("; ".join(problems))


def masked(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value replaced by ***, longest first."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text
