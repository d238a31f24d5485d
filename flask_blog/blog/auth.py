"""Register, log in, log out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_user, logout_user
from sqlalchemy import or_, select
from werkzeug.wrappers import Response

from blog.extensions import db, login_required
from blog.forms import LoginForm, RegisterForm
from blog.models import User
from blog.urls import is_local_path

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.route("/register", methods=["GET", "POST"])
def register() -> str | Response:
    form = RegisterForm()
    if form.validate_on_submit():
        taken = db.session.scalar(
            select(User).where(
                or_(User.username == form.username.data, User.email == form.email.data)
            )
        )
        if taken is None:
            user = User(username=form.username.data, email=form.email.data)
            user.set_password(form.password.data or "")
            db.session.add(user)
            db.session.commit()
            login_user(user)
            flash("Welcome! Your account is ready.")
            return redirect(url_for("blog.index"))
        form.username.errors = [
            *form.username.errors,
            "This username or email is already registered.",
        ]
    return render_template("auth/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data))
        if user is not None and user.check_password(form.password.data or ""):
            login_user(user)
            return redirect(_after_login_url())
        form.password.errors = [*form.password.errors, "Wrong username or password."]
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    # A POST, so CSRFProtect checks its token: a link elsewhere cannot log anyone out.
    logout_user()
    return redirect(url_for("blog.index"))


def _after_login_url() -> str:
    """The ?next= page if it is on this site, so a crafted link cannot send the user elsewhere."""
    target = request.args.get("next", "")
    return target if is_local_path(target) else url_for("blog.index")
