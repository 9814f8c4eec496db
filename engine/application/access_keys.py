"""Access keys for the API: create (the secret shown once), list, revoke, and look one up."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError

from domain.access_key import (
    KEY_ID,
    KEY_REGISTRY_ID,
    AccessKey,
    AccessKeyRegistry,
    access_key_id,
    check_key_name,
    check_role,
)
from engine.application.base import ConveyorBase
from engine.secrets import SecretStore

_KEY_ID_CHARS = string.ascii_uppercase + string.digits
_SECRET_CHARS = string.ascii_letters + string.digits
SECRET_LENGTH = 40  # as long as AWS's secret access keys: about 238 bits
SECRETS_CACHED = 1000  # decrypted secrets a process keeps (a server sees a handful of keys)


def new_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(_KEY_ID_CHARS) for _ in range(16))


def new_secret() -> str:
    return "".join(secrets.choice(_SECRET_CHARS) for _ in range(SECRET_LENGTH))


@dataclass(frozen=True)
class AccessKeyInfo:
    """What `access-key list` shows of a key: everything but its secret."""

    name: str
    key_id: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class KeyCredentials:
    """What the API's authenticator needs to check a signature made with the key."""

    name: str
    role: str
    secret: str
    revoked: bool


class AccessKeyCommands(ConveyorBase):
    """The API's access keys, as events; their secrets encrypted with the workspace key."""

    def _cipher(self) -> SecretStore:
        return SecretStore(self.settings.home)

    def _key_registry(self) -> AccessKeyRegistry | None:
        try:
            registry: AccessKeyRegistry = self.repository.get(KEY_REGISTRY_ID)
        except AggregateNotFoundError:
            return None
        return registry

    def _access_key(self, key_id: str) -> AccessKey | None:
        try:
            key: AccessKey = self.repository.get(access_key_id(key_id))
        except AggregateNotFoundError:
            return None
        return key

    def create_access_key(self, name: str, role: str, *, by: str) -> tuple[str, str]:
        """A new key: its key id and its secret, which nothing can show again."""
        check_key_name(name)
        check_role(role)
        secret = new_secret()
        encrypted = self._cipher().encrypt(secret)

        def attempt() -> str:
            now = self.clock.now()
            # A fresh id on every attempt: a retry after a lost race never reuses a taken one.
            key_id = new_key_id()
            registry = self._key_registry() or AccessKeyRegistry.open(now)
            registry.register(name, key_id, by=by, now=now)
            key = AccessKey.create(
                key_id=key_id, name=name, role=role, encrypted_secret=encrypted, by=by, now=now
            )
            self.save(registry, key)
            return key_id

        return self._transact(attempt), secret

    def list_access_keys(self) -> list[AccessKeyInfo]:
        """Every key ever created, live or revoked, oldest first."""
        registry = self._key_registry()
        found = []
        for key_id in registry.keys if registry else ():
            key = self._access_key(key_id)
            if key is not None:
                found.append(_info(key))
        return found

    def revoke_access_key(self, name_or_key_id: str, *, by: str) -> AccessKeyInfo:
        """Refuse the key from the next request on; its name may then be given to a new key."""

        def attempt() -> AccessKeyInfo:
            now = self.clock.now()
            registry = self._key_registry() or AccessKeyRegistry.open(now)
            key = self._access_key(registry.key_of(name_or_key_id))
            assert key is not None  # the registry lists only keys that were saved with it
            key.revoke(by=by, now=now)
            if registry.live.get(key.name) == key.key_id:
                registry.release(key.name, by=by, now=now)
            self.save(registry, key)
            return _info(key)

        return self._transact(attempt)

    def access_key_credentials(self, key_id: str) -> KeyCredentials | None:
        """The key with this id and its secret, decrypted; None if there is no such key.

        Read from the event store at every call (the repository brings a cached key up to
        date with its newer events), so a revocation made by any process counts at once.
        """
        if not KEY_ID.match(key_id):
            return None
        key = self._access_key(key_id)
        if key is None:
            return None
        return KeyCredentials(
            name=key.name, role=key.role, secret=self._secret_of(key), revoked=key.revoked
        )

    def _secret_of(self, key: AccessKey) -> str:
        """The key's secret, decrypted once per process: a key's ciphertext never changes (no
        event changes it), so only its revocation needs the store's latest word."""
        cache: dict[str, str] = self.__dict__.setdefault("_key_secrets", {})
        found = cache.get(key.encrypted_secret)
        if found is None:
            found = self._cipher().decrypt(key.encrypted_secret, f"access key {key.key_id}")
            if len(cache) >= SECRETS_CACHED:
                cache.clear()
            cache[key.encrypted_secret] = found
        return found


def _info(key: AccessKey) -> AccessKeyInfo:
    return AccessKeyInfo(
        name=key.name,
        key_id=key.key_id,
        role=key.role,
        created_at=key.created_at,
        created_by=key.created_by,
        revoked_at=key.revoked_at,
        revoked_by=key.revoked_by,
    )
