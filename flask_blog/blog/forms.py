"""The blog's forms. Flask-WTF adds and checks the CSRF token on every one of them.

Every field has a maximum length and refuses control characters and bytes that
were not UTF-8, so hostile input gets a form error, never a 500 (PostgreSQL, for
one, refuses NUL in text).
"""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import SUBMIT_METHODS
from wtforms import Field, Form, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Regexp, ValidationError

# Unicode's control characters (C0, DEL, C1) but for the tab and line breaks of a
# textarea, and U+FFFD, which the form parser puts where a multipart body had bytes
# that are not UTF-8.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")


def plain_text(form: Form, field: Field) -> None:
    if field.data and _NOT_TEXT.search(field.data):
        raise ValidationError("Only text, please: no control characters.")


class BlogForm(FlaskForm):  # type: ignore[misc]  # Flask-WTF ships no type information
    """A FlaskForm that reads its fields from the form body only.

    FlaskForm also fills fields from uploaded files and from a JSON body, where a
    field can be a file, a number or a list: validators such as Length then raise
    TypeError, a 500 instead of a form error.
    """

    def __init__(self, **kwargs: Any) -> None:
        if request.method in SUBMIT_METHODS:
            kwargs.setdefault("formdata", request.form)
        super().__init__(**kwargs)


class RegisterForm(BlogForm):
    username = StringField(
        "Username",
        validators=[
            DataRequired(),
            Length(min=3, max=40),
            Regexp(r"^[A-Za-z0-9_.-]+$", message="Letters, digits, dots, dashes and underscores."),
        ],
    )
    email = StringField("Email", validators=[DataRequired(), Length(max=254), Email(), plain_text])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(min=8, max=128), plain_text]
    )
    confirm = PasswordField(
        "Repeat password", validators=[DataRequired(), EqualTo("password", "Passwords differ.")]
    )


class LoginForm(BlogForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=40), plain_text])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128), plain_text])


class PostForm(BlogForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200), plain_text])
    body = TextAreaField("Body", validators=[DataRequired(), Length(max=50_000), plain_text])
