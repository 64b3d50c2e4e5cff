"""Request types for views whose user is known to be signed in."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthenticatedHttpRequest(HttpRequest):
    """A request that LoginRequiredMiddleware let through: its user is never anonymous."""

    user: User


def admin_user(request: HttpRequest) -> User:
    """The operator behind an admin request."""
    # AdminSite.admin_view serves only active staff users, so this is never AnonymousUser.
    return cast(User, request.user)
