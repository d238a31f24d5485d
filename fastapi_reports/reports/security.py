"""Password hashes: Argon2id through pwdlib, and the scrypt hashes stored before it.

New passwords are hashed with Argon2id, pwdlib's recommended hasher and the one
FastAPI's security tutorial uses. Users registered earlier have an scrypt hash
(`scrypt$N$r$p$salt$digest`, the standard library's, which this module wrote
until then). `ScryptHasher` still verifies those, and never hashes: at the next
successful login `verify_and_update` returns an Argon2 hash for the password,
which the login stores in place of the old one (reports/api/routes/auth.py).
So an old hash goes away with its user's first login, and nobody has to reset a
password.
"""

from __future__ import annotations

import hashlib
import hmac

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


class ScryptHasher:
    """Verifies the scrypt hashes of before; new hashes are never made with it."""

    @classmethod
    def identify(cls, hash: str | bytes) -> bool:
        text = hash.decode(errors="replace") if isinstance(hash, bytes) else hash
        return text.startswith("scrypt$") and text.count("$") == 5

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        raise NotImplementedError("scrypt hashes are only verified; new ones are Argon2")

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        """Constant-time check of `password` against a stored scrypt hash."""
        text = hash.decode(errors="replace") if isinstance(hash, bytes) else hash
        secret = password.encode() if isinstance(password, str) else password
        try:
            _, n, r, p, salt, digest = text.split("$")
            candidate = hashlib.scrypt(
                secret, salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p)
            )
        except ValueError:  # not numbers, not hex, or parameters scrypt refuses
            return False
        return hmac.compare_digest(candidate.hex(), digest)

    def check_needs_rehash(self, hash: str | bytes) -> bool:
        return True


#: The first hasher hashes; the others only verify what was stored before.
password_hash = PasswordHash((Argon2Hasher(), ScryptHasher()))


def hash_password(password: str) -> str:
    return password_hash.hash(password)


def verify_password(password: str, stored: str) -> tuple[bool, str | None]:
    """Whether `password` matches `stored`, and the hash to store instead, if any.

    The new hash is given when `stored` is an old scheme (scrypt) or Argon2 with
    parameters other than the current ones. A hash no hasher knows matches nothing.
    """
    if not any(hasher.identify(stored) for hasher in password_hash.hashers):
        return False, None
    return password_hash.verify_and_update(password, stored)
