"""Hospital accounts (issue 27, item 7).

* Every user changes their own password (a reviewer was refused at ``/admin/password_change/``, a staff page).
* An admin sets another user's password from the admin site.
* Optional LDAP / Active Directory login (django-auth-ldap), against a real Debian ``slapd`` started here:
  directory groups map to roles at each login, someone in none of the mapped groups cannot log in, and a
  wrong password is refused.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from enllasd_web.ldap_login import ldap_settings, role_groups
from enllasd_web.roles import Role, user_role
from tests.ldap_server import GROUPS, PEOPLE, ldap_server, slapd_available

pytestmark = pytest.mark.django_db


def test_a_reviewer_changes_their_own_password(client, reviewer) -> None:
    reviewer.set_password("old-password-1")
    reviewer.save()
    client.force_login(reviewer)
    page = client.get("/accounts/password/")
    assert page.status_code == 200 and 'id="password-change"' in page.content.decode()
    assert 'id="password-link"' in client.get("/").content.decode()  # reachable from every page's header
    refused = client.post("/accounts/password/", {"old_password": "wrong", "new_password1": "n3w-Passphrase!",
                                                  "new_password2": "n3w-Passphrase!"})
    assert refused.status_code == 200 and "not changed" in refused.content.decode()
    changed = client.post("/accounts/password/", {"old_password": "old-password-1", "new_password1": "n3w-Passphrase!",
                                                  "new_password2": "n3w-Passphrase!"})
    assert changed.status_code == 302 and changed["Location"] == "/accounts/password/done/"
    reviewer.refresh_from_db()
    assert reviewer.check_password("n3w-Passphrase!")


def test_an_admin_resets_another_users_password(client, admin_user_role, annotator) -> None:
    admin_user_role.is_staff = True
    admin_user_role.save()
    client.force_login(admin_user_role)
    url = f"/admin/auth/user/{annotator.pk}/password/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"password1": "Reset-by-admin-7", "password2": "Reset-by-admin-7",
                                 "usable_password": "true"})
    assert response.status_code == 302, response.content.decode()[:2000]
    annotator.refresh_from_db()
    assert annotator.check_password("Reset-by-admin-7")


def test_role_groups_are_read_from_the_environment_and_checked() -> None:
    assert role_groups("admin=cn=a,dc=x ; reviewer=cn=r,dc=x;") == {"admin": "cn=a,dc=x", "reviewer": "cn=r,dc=x"}
    with pytest.raises(ValueError, match="unknown role 'surgeon'"):
        role_groups("surgeon=cn=s,dc=x")
    with pytest.raises(ValueError, match="USER_BASE"):
        ldap_settings({"ENLLASD_LDAP_URI": "ldap://127.0.0.1/"})


@pytest.fixture(scope="module")
def directory(tmp_path_factory):  # noqa: ANN201
    if not slapd_available():
        pytest.fail("Debian's slapd and ldap-utils are needed (scripts/test installs them)")
    users = {"alice": "alice-pass", "bob": "bob-pass", "carol": "carol-pass"}
    groups = {"enllasd-reviewers": ["alice"], "enllasd-admins": ["bob"], "radiology": ["alice", "carol"]}
    with ldap_server(tmp_path_factory.mktemp("slapd"), users=users, groups=groups) as server:
        yield server


@pytest.fixture
def ldap_login(settings, directory):  # noqa: ANN201
    env = {"ENLLASD_LDAP_URI": directory.uri, "ENLLASD_LDAP_USER_BASE": PEOPLE, "ENLLASD_LDAP_GROUP_BASE": GROUPS,
           "ENLLASD_LDAP_ROLE_GROUPS": f"admin={directory.group_dn('enllasd-admins')};"
                                       f"reviewer={directory.group_dn('enllasd-reviewers')}"}
    for name, value in ldap_settings(env).items():
        setattr(settings, name, value)
    settings.AUTHENTICATION_BACKENDS = ["enllasd_web.ldap_login.RoleLDAPBackend",
                                        "django.contrib.auth.backends.ModelBackend"]
    return directory


def _login(client, username: str, password: str) -> bool:  # noqa: ANN001
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302 and "_auth_user_id" in client.session


def test_directory_users_log_in_with_the_role_of_their_groups(client, ldap_login) -> None:  # noqa: ANN001
    assert _login(client, "alice", "alice-pass")
    alice = get_user_model().objects.get(username="alice")
    assert user_role(alice) == Role.REVIEWER and not alice.is_staff
    assert (alice.first_name, alice.email) == ("Alice", "alice@hospital.test") and not alice.has_usable_password()
    assert 'id="password-directory"' in client.get("/accounts/password/").content.decode()
    client.logout()

    assert _login(client, "bob", "bob-pass")
    bob = get_user_model().objects.get(username="bob")
    assert user_role(bob) == Role.ADMIN and bob.is_staff
    client.logout()

    assert not _login(client, "alice", "wrong-pass")
    assert not _login(client, "carol", "carol-pass")  # in the directory, in no group of this application


def test_a_group_change_in_the_directory_takes_effect_at_the_next_login(client, ldap_login) -> None:  # noqa: ANN001
    assert _login(client, "alice", "alice-pass")
    client.logout()
    admins = ldap_login.group_dn("enllasd-admins")
    ldap_login.run("ldapmodify", f"dn: {admins}\nchangetype: modify\nadd: member\nmember: uid=alice,{PEOPLE}\n")
    try:
        assert _login(client, "alice", "alice-pass")
        alice = get_user_model().objects.get(username="alice")
        assert user_role(alice) == Role.ADMIN and alice.is_staff
        assert list(alice.groups.values_list("name", flat=True)) == ["admin"]  # one role group, the highest
    finally:
        ldap_login.run("ldapmodify", f"dn: {admins}\nchangetype: modify\ndelete: member\n"
                                     f"member: uid=alice,{PEOPLE}\n")


def test_local_accounts_still_log_in_beside_the_directory(client, ldap_login, reviewer) -> None:  # noqa: ANN001
    reviewer.set_password("local-pass-9")
    reviewer.save()
    assert _login(client, reviewer.username, "local-pass-9")
