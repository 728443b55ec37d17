"""Secrets at rest: Fernet tokens under keys kept in their own file, never derived from anything else.

The key file holds one Fernet key per line, newest first. Encryption uses the newest; decryption tries
each, so `portal keys rotate` can add a key, have each table's owner re-encrypt its secrets
(`rotate_secrets`), and retire the old one.
"""

import hashlib
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class VaultError(Exception):
    pass


class Vault:
    def __init__(self, keys: list[bytes]):
        if not keys:
            raise VaultError("no vault keys")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def from_file(cls, path: Path) -> "Vault":
        try:
            lines = path.read_text(encoding="ascii").split()
        except FileNotFoundError:
            raise VaultError(
                f"{path}: vault key file not found (create one with `portal keys generate`)"
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise VaultError(f"{path}: cannot read the vault key file: {error}") from None
        try:
            return cls([line.encode() for line in lines])
        except (ValueError, VaultError):
            raise VaultError(
                f"{path}: not a vault key file (one Fernet key per line, newest first)"
            ) from None

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise VaultError("a stored secret can't be decrypted with the current vault keys") from None

    def rotate_token(self, token: str) -> str:
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise VaultError("a stored secret can't be decrypted with the current vault keys") from None


def write_new_key_file(path: Path) -> None:
    """Creates a key file with one fresh key, readable by its owner only; never overwrites one."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(Fernet.generate_key().decode() + "\n")


def add_key(path: Path) -> None:
    """Puts a fresh key first in the file; the old ones stay so existing tokens still decrypt."""
    old = path.read_text(encoding="ascii").split()
    _replace(path, [Fernet.generate_key().decode(), *old])


def retire_old_keys(path: Path) -> None:
    _replace(path, path.read_text(encoding="ascii").split()[:1])


def _replace(path: Path, keys: list[str]) -> None:
    temporary = path.with_name(path.name + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write("".join(key + "\n" for key in keys))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def new_token(nbytes: int = 16) -> str:
    """A random secret as hex: hex can never spell the words Daraja refuses in a callback URL."""
    return secrets.token_hex(nbytes)


def fingerprint(code: str) -> str:
    """How codes that people type (access codes, vouchers, API tokens) are stored and looked up."""
    return hashlib.sha256(code.encode()).hexdigest()
