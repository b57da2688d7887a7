"""The web UI: who may log in (the users file) and what each role may do.

Anonymous users see everything and change nothing. `release-engineer` forces, rebuilds and
stops builds, which includes the promote builder; `admin` may also do the rest (cancel build
requests, pause workers, enable schedulers).
"""

from buildbot.plugins import util
from buildbot.www.auth import CustomAuth
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import threads

from builders.users import check_password, read_users


class UsersFileAuth(CustomAuth):
    """Checks logins against the PBKDF2 hashes of the users file."""

    def __init__(self, users, **kwargs):
        super().__init__(**kwargs)
        self.users = users

    def requestAvatarId(self, cred):
        # PBKDF2 takes a good part of a second on purpose: off the reactor, so a login (or a
        # flood of them) never stalls the master
        def decide(ok: bool):
            if ok:
                return cred.username
            raise UnauthorizedLogin()
        return threads.deferToThread(self.check_credentials, cred.username, cred.password).addCallback(decide)

    def check_credentials(self, username: bytes, password: bytes) -> bool:
        user = self.users.get(username.decode(errors="replace"))
        return bool(user) and check_password(user.password_hash, password.decode(errors="replace"))


def www_config(settings) -> dict:
    users = read_users(settings.users_file)
    roles = {}
    for user in users.values():
        for role in user.roles:
            roles.setdefault(role, []).append(user.name)
    # Buildbot stops at the first rule whose endpoint matches and denies unless it says
    # otherwise: the release-engineer rules must fall through for a user who is admin alone
    engineer_actions = (util.ForceBuildEndpointMatcher, util.RebuildBuildEndpointMatcher,
                        util.StopBuildEndpointMatcher)
    authz = util.Authz(
        allowRules=[
            *(matcher(role="release-engineer", defaultDeny=False) for matcher in engineer_actions),
            util.AnyControlEndpointMatcher(role="admin"),
        ],
        roleMatchers=[util.RolesFromUsername(roles=[role], usernames=names) for role, names in roles.items()],
    )
    return {
        "port": settings.web_port,
        "plugins": {"waterfall_view": {}, "console_view": {}, "grid_view": {}},
        "auth": UsersFileAuth(users),
        "authz": authz,
        "change_hook_dialects": {},
    }
