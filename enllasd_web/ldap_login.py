"""Hospital accounts: log in with the directory's (LDAP / Active Directory) user name and password.

Off unless ``ENLLASD_LDAP_URI`` is set; local accounts keep working beside it (the admin's own, demo users).
Everything comes from the environment (:func:`ldap_settings`):

``ENLLASD_LDAP_URI``              ``ldap://dc1.hospital.local`` or ``ldaps://...``
``ENLLASD_LDAP_START_TLS``        upgrade an ``ldap://`` connection with StartTLS (default off)
``ENLLASD_LDAP_BIND_DN``          service account that searches the directory (empty: anonymous search)
``ENLLASD_LDAP_BIND_PASSWORD``    its password
``ENLLASD_LDAP_USER_BASE``        where users are, e.g. ``ou=people,dc=hospital,dc=local``
``ENLLASD_LDAP_USER_FILTER``      default ``(uid=%(user)s)``; Active Directory: ``(sAMAccountName=%(user)s)``
``ENLLASD_LDAP_GROUP_BASE``       where groups are, e.g. ``ou=groups,dc=hospital,dc=local``
``ENLLASD_LDAP_GROUP_TYPE``       ``groupOfNames`` (default, OpenLDAP) or ``activedirectory``
``ENLLASD_LDAP_ROLE_GROUPS``      ``admin=<group DN>;reviewer=<group DN>;annotator=<group DN>``

At each login the user's role is the highest role whose group they are in (:class:`RoleLDAPBackend`), so a
change in the directory takes effect at the next login; someone in none of the groups cannot log in. Names
and e-mail come from ``givenName``, ``sn`` and ``mail``. The password is checked by the directory and never
stored here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_auth_ldap.backend import LDAPBackend

from enllasd_web.roles import ROLE_GROUPS, Role

__all__ = ["RoleLDAPBackend", "ldap_settings", "role_groups"]


def role_groups(text: str) -> dict[str, str]:
    """``"admin=cn=a,dc=x;reviewer=cn=r,dc=x"`` -> ``{"admin": "cn=a,dc=x", "reviewer": "cn=r,dc=x"}``.

    Raises
    ------
    ValueError
        An entry without ``=`` or with an unknown role name.
    """
    mapping: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        role, sep, dn = entry.partition("=")
        role = role.strip().lower()
        if not sep or not dn.strip():
            raise ValueError(f"ENLLASD_LDAP_ROLE_GROUPS entry {entry!r} is not role=group DN")
        if role not in ROLE_GROUPS:
            raise ValueError(f"ENLLASD_LDAP_ROLE_GROUPS: unknown role {role!r} (known: {', '.join(ROLE_GROUPS)})")
        mapping[role] = dn.strip()
    return mapping


def ldap_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The ``AUTH_LDAP_*`` settings of django-auth-ldap from the ``ENLLASD_LDAP_*`` variables above.

    Raises
    ------
    ValueError
        ``ENLLASD_LDAP_USER_BASE`` or ``ENLLASD_LDAP_ROLE_GROUPS`` is missing (nobody could log in).
    """
    import ldap
    from django_auth_ldap.config import ActiveDirectoryGroupType, GroupOfNamesType, LDAPGroupQuery, LDAPSearch

    user_base = env.get("ENLLASD_LDAP_USER_BASE", "").strip()
    groups = role_groups(env.get("ENLLASD_LDAP_ROLE_GROUPS", ""))
    if not user_base or not groups:
        raise ValueError("ENLLASD_LDAP_URI is set: ENLLASD_LDAP_USER_BASE and ENLLASD_LDAP_ROLE_GROUPS are needed too")
    group_base = env.get("ENLLASD_LDAP_GROUP_BASE", "").strip() or user_base
    active_directory = env.get("ENLLASD_LDAP_GROUP_TYPE", "groupOfNames").strip().lower() == "activedirectory"
    required = None
    for dn in groups.values():
        required = LDAPGroupQuery(dn) if required is None else required | LDAPGroupQuery(dn)
    return {
        "AUTH_LDAP_SERVER_URI": env["ENLLASD_LDAP_URI"].strip(),
        "AUTH_LDAP_START_TLS": env.get("ENLLASD_LDAP_START_TLS", "").strip().lower() in ("1", "true", "yes", "on"),
        "AUTH_LDAP_BIND_DN": env.get("ENLLASD_LDAP_BIND_DN", ""),
        "AUTH_LDAP_BIND_PASSWORD": env.get("ENLLASD_LDAP_BIND_PASSWORD", ""),
        "AUTH_LDAP_USER_SEARCH": LDAPSearch(user_base, ldap.SCOPE_SUBTREE,
                                            env.get("ENLLASD_LDAP_USER_FILTER", "").strip() or "(uid=%(user)s)"),
        "AUTH_LDAP_GROUP_SEARCH": LDAPSearch(group_base, ldap.SCOPE_SUBTREE,
                                             "(objectClass=group)" if active_directory else "(objectClass=groupOfNames)"),
        "AUTH_LDAP_GROUP_TYPE": ActiveDirectoryGroupType() if active_directory else GroupOfNamesType(),
        "AUTH_LDAP_REQUIRE_GROUP": required,
        "AUTH_LDAP_USER_ATTR_MAP": {"first_name": "givenName", "last_name": "sn", "email": "mail"},
        "AUTH_LDAP_ALWAYS_UPDATE_USER": True,
        "AUTH_LDAP_CONNECTION_OPTIONS": {ldap.OPT_NETWORK_TIMEOUT: 5, ldap.OPT_REFERRALS: 0},
        "ENLLASD_LDAP_ROLE_GROUPS_MAP": groups,
    }


class RoleLDAPBackend(LDAPBackend):
    """django-auth-ldap's backend that also gives the user the role of their directory groups at each login."""

    def authenticate_ldap_user(self, ldap_user, password):  # noqa: ANN001, ANN201 - django-auth-ldap's signature
        user = super().authenticate_ldap_user(ldap_user, password)
        if user is not None:
            _apply_role(user, ldap_user.group_dns)
        return user


def _apply_role(user: Any, group_dns: set[str]) -> None:
    """Replace the user's role groups by the one of the highest role their directory groups map to."""
    from django.conf import settings
    from django.contrib.auth.models import Group

    mapping: dict[str, str] = getattr(settings, "ENLLASD_LDAP_ROLE_GROUPS_MAP", {})
    member_of = {dn.lower() for dn in group_dns}
    roles = [ROLE_GROUPS[name] for name, dn in mapping.items() if dn.lower() in member_of]
    role = max(roles, default=Role.NONE)
    user.groups.remove(*Group.objects.filter(name__in=list(ROLE_GROUPS)))
    if role != Role.NONE:
        name = next(name for name, value in ROLE_GROUPS.items() if value == role)
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    user.is_staff = role == Role.ADMIN  # the Django admin site, as for local admins
    user.save(update_fields=["is_staff"])
