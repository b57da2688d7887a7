"""The master's database: SQLite for the embedded default, PostgreSQL for a team's master.

A URL is checked before the master starts on it, so that a wrong one is one line from
`stackdeb master start` rather than a traceback in twistd.log. A URL is never shown with its
password: the recommended form has none (`postgresql://buildbot@db.example/buildbot`, the
password in the master's ~/.pgpass, or a local socket with peer authentication).
"""

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

CONNECT_TIMEOUT = 10


class DatabaseError(Exception):
    """The database URL is malformed, its driver is missing, or it cannot be reached."""


def redacted(url: str) -> str:
    """`url` with its password (if any) masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<a malformed database URL>"


def check_database(url: str) -> None:
    """Connect once to `url` and run a trivial query; a relative SQLite file needs nothing."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"{redacted(url)} is not a database URL "
                            "(sqlite:///state.sqlite or postgresql://USER@HOST[:PORT]/NAME)") from None
    if parsed.get_backend_name() == "sqlite":
        return
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseError(f"{redacted(url)}: stackdeb runs its master on SQLite or PostgreSQL only")
    try:
        engine = create_engine(parsed, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    except (NoSuchModuleError, ModuleNotFoundError) as error:
        raise DatabaseError(f"{redacted(url)}: the PostgreSQL driver is missing ({error}); "
                            "install it with: .venv/bin/pip install 'stackdeb[postgresql]'") from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:      # the driver's own errors: refused, unknown host, bad password
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise DatabaseError(f"the master's database {redacted(url)} cannot be reached: {reason}") from None
    finally:
        engine.dispose()
