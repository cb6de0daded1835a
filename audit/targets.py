"""Which requests the audit log records, and as what: a pure function of the resolved URL.

Every request routed to a view is recorded except those in :data:`UNAUDITED_URL_NAMES` (the schema, its
docs, and the login pages, whose successful logins come from the ``user_logged_in`` signal): an endpoint
added later is audited without anyone remembering to. URL names follow ``<entity>-<verb>``
(``image-display``, ``revision-create``, ``review-item-accept``, ``patient-timeline-csv``). The object is
the one in the path (``image_id`` -> ``image``; ``item_id`` in ``review-item-accept`` -> ``review_item``),
except for creations, whose object is the new row the response returns. ``POST /api/auth/token/`` is a login.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from audit.models import AuditAction

UNAUDITED_URL_NAMES: frozenset[str] = frozenset({"api-schema", "api-docs", "login", "logout"})
TOKEN_LOGIN_URL_NAME = "api-token"

_VERB_ACTIONS: dict[str, AuditAction] = {
    "approve": AuditAction.APPROVE,
    "accept": AuditAction.APPROVE,
    "reject": AuditAction.REJECT,
    "export": AuditAction.EXPORT,
    "download": AuditAction.EXPORT,
    "labelme": AuditAction.EXPORT,
    "csv": AuditAction.EXPORT,
    "pdf": AuditAction.EXPORT,
}
_CREATE_VERBS = frozenset({"create", "upload", "import", "request", "start", "predict", "collection"})
_TRAILING_VERBS = frozenset({"list", "detail", "display", "thumbnail", "cancel", *_CREATE_VERBS, *_VERB_ACTIONS})
_METHOD_ACTIONS: dict[str, AuditAction] = {
    "GET": AuditAction.VIEW,
    "HEAD": AuditAction.VIEW,
    "PUT": AuditAction.CHANGE,
    "PATCH": AuditAction.CHANGE,
    "DELETE": AuditAction.DELETE,
}


@dataclass(frozen=True)
class AuditTarget:
    """What an audited request did (``action``) to which object (``object_type``, ``object_id``)."""

    action: AuditAction
    object_type: str
    object_id: str


def _entity(url_name: str) -> str:
    """``review-item-approve`` -> ``review_item``: the URL name without its verb."""
    tokens = url_name.split("-")
    if len(tokens) > 1 and tokens[-1] in _TRAILING_VERBS:
        tokens = tokens[:-1]
    return "_".join(tokens)


def _path_object_type(url_name: str, parameter: str) -> str:
    """``item_id`` in ``review-item-accept`` -> ``review_item``; ``image_id`` in ``revision-list`` -> ``image``."""
    kind = parameter.removesuffix("_id")
    tokens = url_name.split("-")
    return "_".join(tokens[: tokens.index(kind) + 1]) if kind in tokens else kind


def _action(method: str, url_name: str) -> AuditAction | None:
    verb = url_name.rsplit("-", 1)[-1]
    if verb in _VERB_ACTIONS and (method == "POST" or _VERB_ACTIONS[verb] == AuditAction.EXPORT):
        return _VERB_ACTIONS[verb]
    if method == "POST":
        return AuditAction.CREATE if verb in _CREATE_VERBS else AuditAction.CHANGE
    return _METHOD_ACTIONS.get(method)


def audit_target(
    *, method: str, url_name: str, url_kwargs: Mapping[str, Any], created_id: Any = None
) -> AuditTarget | None:
    """The audit record for a request, or ``None`` when the request is not audited.

    Parameters
    ----------
    method : str
        The HTTP method, upper case.
    url_name : str
        The resolved URL name without its namespace (``image-display``).
    url_kwargs : mapping
        The path parameters (``{"image_id": 5}``).
    created_id : object, optional
        The ``id`` in a successful response body, used as the object of a creation.
    """
    if url_name == TOKEN_LOGIN_URL_NAME:
        return AuditTarget(AuditAction.LOGIN, "user", "") if method == "POST" else None
    if url_name in UNAUDITED_URL_NAMES:
        return None
    path_ids = [name for name in url_kwargs if name.endswith("_id")]
    action = _action(method, url_name)
    if action is None:
        return None
    if action == AuditAction.CREATE and created_id is not None:
        return AuditTarget(action, _entity(url_name), str(created_id))
    if path_ids:
        name = path_ids[-1]
        return AuditTarget(action, _path_object_type(url_name, name), str(url_kwargs[name]))
    return AuditTarget(action, _entity(url_name), "")
