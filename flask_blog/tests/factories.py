"""factory_boy factories for the blog's models; call them inside an app context."""

from __future__ import annotations

from typing import TypeVar

import factory
from factory.alchemy import SQLAlchemyModelFactory
from werkzeug.security import generate_password_hash

from blog.extensions import db
from blog.models import Export, ExportEvent, Post, User, utcnow
from shared.timeline import Kind

PASSWORD = "correct horse battery"  # noqa: S105
# Hashing is slow on purpose; every factory user shares one hash.
PASSWORD_HASH = generate_password_hash(PASSWORD)


ModelT = TypeVar("ModelT")


class BaseFactory(SQLAlchemyModelFactory, factory.Factory[ModelT]):
    """Generic over its model, as DjangoModelFactory is (factory_boy's SQLAlchemy one is
    not), so that `UserFactory.create()` is a `User` to the type checker.
    """

    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


class UserFactory(BaseFactory[User]):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password_hash = PASSWORD_HASH


class PostFactory(BaseFactory[Post]):
    class Meta:
        model = Post

    author = factory.SubFactory(UserFactory)
    title = factory.Sequence(lambda n: f"Post number {n}")
    body = factory.Faker("paragraph")


class ExportFactory(BaseFactory[Export]):
    class Meta:
        model = Export

    user = factory.SubFactory(UserFactory)


class ExportEventFactory(BaseFactory[ExportEvent]):
    class Meta:
        model = ExportEvent

    export = factory.SubFactory(ExportFactory)
    kind = Kind.COMMITTED
    at = factory.LazyFunction(utcnow)
    task_id = "0123456789abcdef-task"
    task_name = "blog.tasks.generate_user_archive"
