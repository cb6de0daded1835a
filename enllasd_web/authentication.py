"""Token authentication that loads the user and the user's role in one raw query."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, wraps
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header

from enllasd_web.roles import ROLE_GROUPS, Role, remember_role


@cache
def _user_with_role_sql() -> str:
    """``SELECT`` of the token's user with its highest role rank (0 for none) as ``role_rank``."""
    user_model = get_user_model()
    token_table = TokenAuthentication().get_model()._meta.db_table
    membership = user_model.groups.through._meta
    user_column = membership.get_field(user_model._meta.model_name).column
    group_column = membership.get_field("group").column
    ranks = " ".join(f"WHEN '{name}' THEN {int(role)}" for name, role in ROLE_GROUPS.items())
    return (
        f"SELECT u.*, (SELECT MAX(CASE g.name {ranks} ELSE 0 END)"
        f" FROM {membership.db_table} m JOIN {Group._meta.db_table} g ON g.id = m.{group_column}"
        f" WHERE m.{user_column} = u.id) AS role_rank"
        f" FROM {token_table} t JOIN {user_model._meta.db_table} u ON u.id = t.user_id WHERE t.key = %s"
    )


class RoleTokenAuthentication(TokenAuthentication):
    """DRF's ``Authorization: Token <key>``, with the user's role fetched in the same query.

    DRF's own class runs one ORM query for the token and its user, and the role check then another for
    the groups; under load every API request does both, and building ORM queries costs more CPU than
    running them. One fixed raw query does it all (docs/reliability.md, section 6). ``request.auth`` is
    the token key's :class:`~rest_framework.authtoken.models.Token` (key and user; nothing reads more).
    """

    def authenticate_credentials(self, key: str):  # noqa: ANN201 - DRF signature
        users = list(get_user_model().objects.raw(_user_with_role_sql(), [key]))
        if not users:
            raise exceptions.AuthenticationFailed("Invalid token.")
        user = users[0]
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        remember_role(user, Role.ADMIN if user.is_superuser else Role(user.role_rank or 0))
        return user, self.get_model()(key=key, user=user)


def login_or_token_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """``login_required`` for a page that scripts also fetch: an ``Authorization: Token <key>`` header counts
    as a login (the report PDF). A wrong token is 401 in the API's error shape, never a login redirect."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated and get_authorization_header(request):
            try:
                credentials = RoleTokenAuthentication().authenticate(request)
            except exceptions.AuthenticationFailed as exc:
                return JsonResponse({"message": str(exc.detail), "extra": {"code": "not_authenticated"}}, status=401)
            if credentials is not None:
                request.user = credentials[0]
        return login_required(view)(request, *args, **kwargs)

    return wrapped
