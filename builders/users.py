"""The users file of the Buildbot web UI: who may log in, with which roles.

One user per line, `name:password-hash:roles`, with `#` comments:

    alice:pbkdf2-sha256$600000$<salt>$<hash>:release-engineer

Passwords are stored as PBKDF2-SHA256 hashes, never in plain text; `stackdeb master adduser`
writes the lines. The admin owns the file (mode 0600); Buildbot reads it at start-up.
"""

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from builders.errors import StackdebError

# release-engineer: force, rebuild, stop and promote builds; admin: also everything else
# (cancelling build requests, pausing workers, enabling schedulers).
ROLES = ("release-engineer", "admin")
_ITERATIONS = 600_000
USER_PASSWORD_MINIMUM = 12      # people type these
WORKER_PASSWORD_MINIMUM = 16    # machines do: stackdeb makes 22-character random ones
_COMMON = {"password", "passw0rd", "changeme", "letmein", "qwerty", "admin", "buildbot",
           "stackdeb", "openstack", "secret", "welcome", "123456"}


def password_problem(password: str, name: str, minimum: int = USER_PASSWORD_MINIMUM) -> str | None:
    """Why a password is too weak to accept, or None. Empty, short, the user's own name, one
    character repeated, a run like 'abcd…'/'1234…', or a well-known password with digits."""
    if not password.strip():
        return "is empty"
    if len(password) < minimum:
        return f"is shorter than {minimum} characters"
    lowered = password.lower()
    if len(name) >= 3 and name.lower() in lowered:
        return "contains the user name"
    if len(set(password)) < 5:
        return "has fewer than 5 different characters"
    steps = {ord(b) - ord(a) for a, b in zip(password, password[1:])}
    if steps <= {1} or steps <= {-1}:
        return "is a run of consecutive characters"
    if lowered.rstrip("0123456789!") in _COMMON:
        return "is a well-known password"
    return None


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str
    roles: tuple[str, ...]


def hash_password(password: str, iterations: int = _ITERATIONS) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), iterations)
    return f"pbkdf2-sha256${iterations}${salt}${digest.hex()}"


def check_password(password_hash: str, password: str) -> bool:
    try:
        scheme, iterations, salt, expected = password_hash.split("$")
        if scheme != "pbkdf2-sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), expected)


def read_users(path: Path) -> dict[str, User]:
    if not path.is_file():
        raise StackdebError(f"the users file {path} does not exist",
                            hint="create it with: stackdeb master adduser NAME --role release-engineer")
    users = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(":")
        where = f"{path}, line {number}"
        if len(fields) != 3 or not fields[0] or not fields[1].startswith("pbkdf2-sha256$"):
            raise StackdebError(f"{where}: expected 'name:pbkdf2-sha256$…:roles'",
                                hint="write users with: stackdeb master adduser NAME --role ROLE")
        roles = tuple(r for r in fields[2].split(",") if r)
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise StackdebError(f"{where}: unknown role {', '.join(unknown)}",
                                hint=f"roles: {', '.join(ROLES)}")
        if fields[0] in users:
            raise StackdebError(f"{where}: user {fields[0]} is listed twice")
        users[fields[0]] = User(fields[0], fields[1], roles)
    return users


def add_user(path: Path, name: str, password: str, roles: list[str]) -> None:
    """Add or replace one user; the file is rewritten atomically and readable by its owner only."""
    if not name or ":" in name or name.strip() != name:
        raise StackdebError(f"invalid user name '{name}'", hint="no colons, no surrounding spaces")
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        raise StackdebError(f"unknown or missing role {', '.join(unknown)}", hint=f"roles: {', '.join(ROLES)}")
    problem = password_problem(password, name)
    if problem:
        raise StackdebError(f"the password for {name} {problem}",
                            hint=f"use at least {USER_PASSWORD_MINIMUM} characters that are not easy to guess")
    users = read_users(path) if path.exists() else {}
    users[name] = User(name, hash_password(password), tuple(roles))
    lines = [f"{u.name}:{u.password_hash}:{','.join(u.roles)}\n" for u in users.values()]
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# stackdeb web UI users: name:password-hash:roles (see docs/buildbot.md)\n")
        out.writelines(lines)
    os.replace(tmp, path)
