"""The workspace's signing key: an Ed25519 key that signs audit exports and log checkpoints."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from domain.errors import ConveyorError

KEYS_DIR = "keys"
KEY_FILE = "signing.key"
# Read at most this much of a key file: a PEM Ed25519 key is 119 bytes.
MAX_KEY_BYTES = 4096


class SigningKeyException(ConveyorError):
    """The signing key cannot be read or made safely (an environment fault: exit 1)."""

    code = "SigningKeyException"
    exit_code = 1
    http_status = 500


@dataclass(frozen=True)
class Verifier:
    """A public key: checks signatures, and is named by the SHA-256 of its raw bytes."""

    public: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(raw).hexdigest()

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self.public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    @classmethod
    def from_pem(cls, text: bytes) -> Verifier:
        """A public key from PEM text, or from a private key's PEM (its public half)."""
        try:
            if b"PRIVATE KEY" in text:
                private = serialization.load_pem_private_key(text, password=None)
                if isinstance(private, Ed25519PrivateKey):
                    return cls(private.public_key())
            else:
                public = serialization.load_pem_public_key(text)
                if isinstance(public, Ed25519PublicKey):
                    return cls(public)
        except (ValueError, TypeError):
            pass
        raise SigningKeyException("not a PEM Ed25519 key")


@dataclass(frozen=True)
class Signer:
    """The private key, and its public half."""

    private: Ed25519PrivateKey

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    @property
    def key_id(self) -> str:
        return self.verifier.key_id

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.private.public_key())


def key_path(home: Path) -> Path:
    return home / KEYS_DIR / KEY_FILE


def ensure_keys_dir(home: Path) -> Path:
    """`home/keys`, a real directory readable by its owner only (made if missing)."""
    folder = home / KEYS_DIR
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise SigningKeyException(f"{folder} is not a directory (a link or a file is refused)")
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)
    return folder


def _read_key_file(path: Path) -> bytes:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno == errno.ELOOP:  # the key file is a symbolic link
            raise SigningKeyException(f"{path} is a symbolic link; refused") from None
        raise
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise SigningKeyException(f"{path} is not a regular file")
        if info.st_mode & 0o077:
            raise SigningKeyException(
                f"{path} can be read by others (mode {stat.S_IMODE(info.st_mode):o}); "
                "it must be readable by its owner only: chmod 600 it"
            )
        return os.read(descriptor, MAX_KEY_BYTES)
    finally:
        os.close(descriptor)


def _signer_from(path: Path, text: bytes) -> Signer:
    try:
        private = serialization.load_pem_private_key(text, password=None)
    except (ValueError, TypeError):
        private = None
    if not isinstance(private, Ed25519PrivateKey):
        raise SigningKeyException(f"{path} is not a PEM Ed25519 private key")
    return Signer(private)


def load_signer(home: Path) -> Signer | None:
    """The workspace's key, or None if it has none yet."""
    path = key_path(home)
    try:
        text = _read_key_file(path)
    except FileNotFoundError:
        return None
    return _signer_from(path, text)


def load_or_create_signer(home: Path) -> Signer:
    """The workspace's key, made on first use: 0600, never through a link, never replacing one.

    The key is written to a temporary file and linked into place, so a process racing this one
    finds either no key or a whole one, and the first to link wins.
    """
    found = load_signer(home)
    if found is not None:
        return found
    folder = ensure_keys_dir(home)
    private = Ed25519PrivateKey.generate()
    text = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temporary = folder / f".{KEY_FILE}.{os.getpid()}.{os.urandom(4).hex()}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(descriptor, text)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        os.link(temporary, key_path(home))
    except FileExistsError:
        pass  # another process made the key first: use theirs
    finally:
        os.unlink(temporary)
    signer = load_signer(home)
    if signer is None:  # pragma: no cover - the link above exists or another process made it
        raise SigningKeyException(f"{key_path(home)} could not be created")
    return signer
