"""What a service raises for anything the caller did wrong; the API turns `status` into the
HTTP answer (annotator/api/errors.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser

# Services take any user model; the annotation says "a saved user", not which class.
User = AbstractBaseUser


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str = "", **extra: Any) -> None:
        super().__init__(message)
        # Fields the API adds to the error body beside "detail" (e.g. a 409's current_version,
        # so a client can reload without guessing).
        self.extra = extra


class Invalid(ServiceError):
    status = 400


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class TooLarge(ServiceError):
    status = 413


class Locked(ServiceError):
    status = 423


class Unavailable(ServiceError):
    """A service this needs (storage, the task queue) failed; retrying later may work."""

    status = 503


class InsufficientStorage(ServiceError):
    status = 507
