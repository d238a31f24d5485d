"""Sign up, sign in, sign out. The session cookie holds only the user id, signed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from reports.api.deps import AuditDep, SessionDep
from reports.models import User
from reports.security import hash_password, verify_password
from reports.templating import templates

router = APIRouter(tags=["auth"], include_in_schema=False)

# No control characters: a NUL alone would make PostgreSQL refuse the query.
Username = Annotated[str, Form(min_length=1, max_length=40, pattern=r"^[^\x00-\x1f\x7f]+$")]
Password = Annotated[str, Form(min_length=1, max_length=200)]
MIN_PASSWORD = 8


def _form(request: Request, mode: str, error: str = "", username: str = "") -> HTMLResponse:
    context = {"mode": mode, "error": error, "username": username}
    code = status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK
    return templates.TemplateResponse(request, "login.html", context, status_code=code)


def _sign_in(request: Request, user: User) -> RedirectResponse:
    request.session.clear()
    request.session["user_id"] = user.id
    return RedirectResponse("/reports", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/login")
def login_form(request: Request) -> Response:
    return _form(request, "login")


@router.post("/login")
def login(
    request: Request, session: SessionDep, audit: AuditDep, username: Username, password: Password
) -> Response:
    user = session.scalar(select(User).where(User.username == username.strip()))
    matches, new_hash = verify_password(password, user.password_hash) if user else (False, None)
    if user is None or not matches:
        return _form(request, "login", "Wrong username or password.", username)
    if new_hash is not None:  # an old scheme (scrypt) or old parameters: store the new hash
        user.password_hash = new_hash
        session.commit()
    audit("user.login", user_id=user.id)
    return _sign_in(request, user)


@router.get("/register")
def register_form(request: Request) -> Response:
    return _form(request, "register")


@router.post("/register")
def register(
    request: Request, session: SessionDep, audit: AuditDep, username: Username, password: Password
) -> Response:
    username = username.strip()
    if not username:
        return _form(request, "register", "Choose a username.", username)
    if len(password) < MIN_PASSWORD:
        error = f"Choose a password of at least {MIN_PASSWORD} characters."
        return _form(request, "register", error, username)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        return _form(request, "register", "That username is taken: choose another.", username)
    user = User(username=username, password_hash=hash_password(password))
    session.add(user)
    session.commit()
    audit("user.register", user_id=user.id)
    return _sign_in(request, user)


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    request.session.clear()
    return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
