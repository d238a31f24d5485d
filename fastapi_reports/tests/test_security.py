"""Passwords: Argon2id for new hashes, and the scrypt hashes of before rehashed at login."""

from __future__ import annotations

import hashlib
import secrets

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from reports.models import User
from reports.security import hash_password, verify_password


def scrypt_hash(password: str) -> str:
    """A hash as this app stored it before Argon2: `scrypt$N$r$p$salt$digest`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${2**14}$8$1${salt.hex()}${digest.hex()}"


def log_in(client: TestClient, username: str, password: str) -> int:
    form = {"username": username, "password": password}
    return client.post("/login", data=form, follow_redirects=False).status_code


def stored_hash(session: Session, user: User) -> str:
    session.expire_all()
    return session.get_one(User, user.id).password_hash


def test_new_hashes_are_salted_argon2id() -> None:
    stored = hash_password("s3cret-enough")
    assert stored.startswith("$argon2id$")
    assert stored != hash_password("s3cret-enough")
    assert verify_password("s3cret-enough", stored) == (True, None)
    assert verify_password("s3cret-enougH", stored) == (False, None)


def test_an_old_scrypt_hash_still_verifies_and_gets_a_new_one() -> None:
    old = scrypt_hash("s3cret-enough")
    matches, new = verify_password("s3cret-enough", old)
    assert matches
    assert new is not None
    assert new.startswith("$argon2id$")
    assert verify_password("s3cret-enough", new) == (True, None)
    assert verify_password("s3cret-enougH", old) == (False, None)


def test_what_is_no_hash_matches_nothing() -> None:
    for stored in ("not-a-hash", "", "scrypt$x$8$1$zz$00", "scrypt$0$8$1$00$00"):
        assert verify_password("anything", stored) == (False, None)


def test_a_login_with_an_argon2_hash_keeps_it(client: TestClient, session: Session) -> None:
    user = User(username="ann", password_hash=hash_password("a-long-password"))
    session.add(user)
    session.commit()
    before = user.password_hash
    assert log_in(client, "ann", "a-long-password") == 303
    assert stored_hash(session, user) == before


def test_a_login_with_an_old_scrypt_hash_stores_an_argon2_hash(
    client: TestClient, session: Session
) -> None:
    user = User(username="ann", password_hash=scrypt_hash("a-long-password"))
    session.add(user)
    session.commit()
    assert log_in(client, "ann", "a-long-password") == 303
    rehashed = stored_hash(session, user)
    assert rehashed.startswith("$argon2id$")
    client.post("/logout")
    assert log_in(client, "ann", "a-long-password") == 303
    assert stored_hash(session, user) == rehashed


def test_a_wrong_password_signs_nobody_in_and_changes_no_hash(
    client: TestClient, session: Session
) -> None:
    old = scrypt_hash("a-long-password")
    user = User(username="ann", password_hash=old)
    session.add(user)
    session.commit()
    response = client.post("/login", data={"username": "ann", "password": "a-wrong-password"})
    assert (response.status_code, "Wrong username or password." in response.text) == (422, True)
    assert stored_hash(session, user) == old
    assert client.get("/reports", follow_redirects=False).status_code == 303
