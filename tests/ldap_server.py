"""A real OpenLDAP server (Debian's ``slapd``) on 127.0.0.1 with its own temporary folder, for the login tests.

The directory holds ``ou=people`` (users with passwords) and ``ou=groups`` (``groupOfNames``), like a
hospital's OpenLDAP; Active Directory differs only in attribute names, which are settings.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.reliability.processes import free_port

SLAPD = Path("/usr/sbin/slapd")
SUFFIX = "dc=enllasd,dc=test"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "directory-admin"  # noqa: S105 - a throw-away test directory
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"


@dataclass(frozen=True)
class LdapServer:
    uri: str

    def run(self, tool: str, ldif: str) -> None:
        """``ldapadd`` / ``ldapmodify`` / ``ldapdelete`` as the directory's administrator."""
        subprocess.run([tool, "-x", "-H", self.uri, "-D", ROOT_DN, "-w", ROOT_PASSWORD], input=ldif, text=True,
                       check=True, capture_output=True)

    def group_dn(self, name: str) -> str:
        return f"cn={name},{GROUPS}"


def _config(folder: Path) -> str:
    return "\n".join([
        *(f"include /etc/ldap/schema/{name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")),
        "modulepath /usr/lib/ldap", "moduleload back_mdb",
        f"pidfile {folder / 'slapd.pid'}",
        "database mdb", f'suffix "{SUFFIX}"', f'rootdn "{ROOT_DN}"', f"rootpw {ROOT_PASSWORD}",
        f"directory {folder / 'db'}", "maxsize 10485760",
        "access to attrs=userPassword by anonymous auth by * none", "access to * by * read", "",
    ])


def _entries(users: Mapping[str, str], groups: Mapping[str, Sequence[str]]) -> str:
    blocks = [f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: enllasd test\ndc: enllasd",
              f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
              f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups"]
    for uid, password in users.items():
        blocks.append(f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid.title()} Tester\n"
                      f"givenName: {uid.title()}\nsn: Tester\nmail: {uid}@hospital.test\nuserPassword: {password}")
    for name, members in groups.items():
        blocks.append(f"dn: cn={name},{GROUPS}\nobjectClass: groupOfNames\ncn: {name}\n"
                      + "\n".join(f"member: uid={uid},{PEOPLE}" for uid in members))
    return "\n\n".join(blocks) + "\n"


@contextmanager
def ldap_server(folder: Path, *, users: Mapping[str, str],
                groups: Mapping[str, Sequence[str]]) -> Iterator[LdapServer]:
    """Start slapd with these users (uid -> password) and groups (cn -> member uids); stop it afterwards."""
    (folder / "db").mkdir(parents=True)
    config = folder / "slapd.conf"
    config.write_text(_config(folder))
    uri = f"ldap://127.0.0.1:{free_port()}/"
    process = subprocess.Popen([str(SLAPD), "-f", str(config), "-h", uri, "-d", "0"],
                               stdout=subprocess.DEVNULL, stderr=(folder / "slapd.log").open("w"))
    server = LdapServer(uri)
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(["ldapsearch", "-x", "-H", uri, "-b", "", "-s", "base"],
                             capture_output=True).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"slapd did not start: {(folder / 'slapd.log').read_text()}")
            time.sleep(0.1)
        server.run("ldapadd", _entries(users, groups))
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder / "db", ignore_errors=True)


def slapd_available() -> bool:
    return SLAPD.is_file() and shutil.which("ldapadd") is not None
