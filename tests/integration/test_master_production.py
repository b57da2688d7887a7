"""The master's production path, for real: PostgreSQL (Debian's server, one of the test's own:
tests/pgserver.py) as its database, created by `stackdeb master start --db URL`, and the web UI
reached only through nginx with TLS (master/nginx-site.conf, as docs/buildbot.md installs it;
tests/tlsproxy.py), with `--url` the https address. One master for the module, on the mini
project: a whole pipeline run, then login, force and promotion through the proxy.
(tests/integration/test_master.py runs the embedded default: SQLite, plain HTTP on loopback.)
"""

import socket
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml

from builders.buildmaster.embedded import WebClient, failed_steps
from minimaster import ENGINEER, STACKDEB, commit, free_port, mini_master, signed_verdict
from pgserver import PostgresServer
from tlsproxy import TlsProxy


@pytest.fixture(scope="module")
def postgres():
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def master(postgres, tmp_path_factory):
    web_port = free_port()
    with TlsProxy(web_port) as proxy:
        env = {**postgres.env(), "SSL_CERT_FILE": str(proxy.ca_file)}   # `master start` talks to it too
        with mini_master(tmp_path_factory.mktemp("buildbot-production"), env=env, web_port=web_port,
                         url=proxy.url, context=proxy.context, start_args=["--db", postgres.url]) as running:
            running.proxy, running.web_port = proxy, web_port
            yield running


def test_a_whole_pipeline_run_on_postgresql(master, postgres):
    build = master.wait_idle(1)
    assert build["results"] == 0, master.step_summaries(build)
    assert "venv-alpha" in master.stackdeb("repo", "status").stdout

    # the master's state is in PostgreSQL, not in a SQLite file beside it
    basedir = master.mini.build / "master"
    settings = yaml.safe_load((basedir / "master.yaml").read_text())
    assert settings["database"] == postgres.url and settings["url"] == master.proxy.url
    assert not (basedir / "state.sqlite").exists()
    builders = set(postgres.query("SELECT name FROM builders").split())
    assert {"pipeline", "bundle", "package-alpha", "package-beta", "publish"} <= builders, builders
    assert int(postgres.query("SELECT count(*) FROM builds WHERE complete_at IS NOT NULL")) >= 5

    # the password is in the pgpass file only
    for path in basedir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert postgres.password.encode() not in path.read_bytes(), path


def test_the_session_cookie_travels_over_tls_only(master):
    cookies = list(master.engineer.cookies)
    assert cookies, "logging in through the proxy set no session cookie"
    assert all(cookie.secure for cookie in cookies), [(c.name, c.secure) for c in cookies]
    assert master.engineer.user()["username"] == ENGINEER[0]
    # plain HTTP on the proxy only redirects to TLS
    no_redirects = urllib.request.build_opener(type("NoRedirect", (urllib.request.HTTPRedirectHandler,),
                                                    {"redirect_request": lambda *args: None}))
    with pytest.raises(urllib.error.HTTPError) as answer:
        no_redirects.open(master.proxy.http_url + "auth/login", timeout=10)
    assert answer.value.code == 301 and answer.value.headers["Location"].startswith(master.proxy.url)


def test_the_masters_own_port_is_closed_beyond_the_loopback(master):
    addresses = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                               text=True, check=True).stdout.split()
    outside = [a.split("/")[0] for i, a in enumerate(addresses) if addresses[i - 1] == "inet"]
    assert outside, "this machine has no address beyond the loopback to try from"
    for port in (master.web_port, master.proxy.https_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((outside[0], port), timeout=10).close()
    socket.create_connection(("127.0.0.1", master.web_port), timeout=10).close()     # it does listen


def test_force_and_promotion_work_through_the_proxy(master):
    before = len(master.builds("pipeline"))
    status, body = master.engineer.call("forceschedulers/build", "force", builderid=None, reason="through TLS",
                                        target="2026.1-bookworm", services=["alpha"], rebuild=True, publish=True)
    assert status == 200, body
    build = master.wait_idle(before + 1)
    assert build["results"] == 0, master.step_summaries(build)
    status, body = master.engineer.call("forceschedulers/promote", "force", builderid=None, reason="passed",
                                        target="2026.1-bookworm", verdict=str(signed_verdict(master)))
    assert status == 200, body
    master.wait_idle(before + 1)
    promoted = master.builds("promote")[-1]
    assert promoted["results"] == 0, master.step_summaries(promoted)
    assert " promote -> generation " in master.stackdeb("repo", "status").stdout
    # anonymous users still only look, through the proxy too
    anonymous = WebClient(master.url, master.context)
    status, _ = anonymous.call("forceschedulers/build", "force", builderid=None, reason="no",
                               target="2026.1-bookworm", services=[], rebuild=False, publish=True)
    assert status == 403


def test_a_failing_step_says_stackdebs_error_in_its_summary(master):
    """Upstream commits a malformed constraint, 12,000 characters long with non-ASCII and
    control characters: the lock step fails, its summary is the error from stackdeb's result,
    and the error reaches the master whole (on stdout the master would have cut the result at
    4096 characters, and it would no longer parse); nothing new reaches staging."""
    before, staged = len(master.builds("pipeline")), master.stackdeb("repo", "status").stdout
    malformed = "libone=>1.0.0 ; " + "\u00e9\x01\x07\t\u2603" * 2400
    commit(master.requirements, "stable/2026.1", {"upper-constraints.txt": f"{malformed}\nlibtwo===0.5.0\n"},
           "a malformed line")
    build = master.wait_idle(before + 1)
    assert build["results"] == 2, master.step_summaries(build)
    lock = master.builds("bundle")[-1]
    steps = {s["name"]: s["state_string"] for s in
             master.anonymous.get(f"builds/{lock['buildid']}/steps")["steps"]}
    assert steps["lock"].startswith("lock failed: upper-constraints.txt (stable/2026.1@"), steps
    assert "malformed requirement line 'libone=>1.0.0 ; \u00e9" in steps["lock"], steps
    error = lock["properties"]["stackdeb_error"][0]
    assert error["step"] == "lock" and f"malformed requirement line '{malformed}'" in error["error"], error
    # what `master start --wait` (the README's main job) says when a pipeline fails
    said = failed_steps(master.anonymous, [build["buildid"], lock["buildid"]])
    assert f"bundle #{lock['number']}, lock: {steps['lock']}" in said, said
    assert master.stackdeb("repo", "status").stdout == staged
    commit(master.requirements, "stable/2026.1", {"upper-constraints.txt": "libone===1.0.0\nlibtwo===0.5.0\n"},
           "fixed")
    assert master.wait_idle(before + 2)["results"] == 0


def test_a_restart_on_postgresql_keeps_the_history(master):
    done = [b["number"] for b in master.builds("pipeline") if b["complete"]]
    assert master.stackdeb("master", "stop").returncode == 0
    again = master.stackdeb("master", "start", "--no-kick-off")
    assert again.returncode == 0, again.stderr
    assert [b["number"] for b in master.builds("pipeline") if b["complete"]] == done


def test_a_wrong_password_is_one_line_and_nothing_is_created(postgres, tmp_path):
    wrong = tmp_path / "pgpass"
    wrong.write_text(f"127.0.0.1:{postgres.port}:*:*:not-the-password\n")
    wrong.chmod(0o600)
    build = tmp_path / "build"
    started = subprocess.run([STACKDEB, "master", "start", "--nightly", "off", "--no-kick-off", "--db", postgres.url],
                             env={"PATH": "/usr/bin:/bin", "PGPASSFILE": str(wrong), "STACKDEB_BUILD_DIR": str(build),
                                  "STACKDEB_CACHE_DIR": str(tmp_path / "cache")},
                             capture_output=True, text=True)
    assert started.returncode == 1, started.stderr
    assert f"the master's database {postgres.url} cannot be reached: " in started.stderr, started.stderr
    assert "password authentication failed" in started.stderr, started.stderr
    assert "Traceback" not in started.stderr and not build.exists()
