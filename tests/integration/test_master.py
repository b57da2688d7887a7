"""The Buildbot master and worker, for real, on the mini project.

One master (SQLite, one local worker, tests/minimaster.py) runs for the whole module; the
tests follow one story in order: the first build, a new release upstream, an upper-constraints
change, a forced build, authz over the REST API, promotion and a screenshot of the waterfall.
"""

import json
import os
import shutil
import subprocess

import pytest

from builders.buildmaster.embedded import WebClient
from builders.manifest import read_json
from helpers import deliverable
from minimaster import ENGINEER, commit, mini_master, signed_verdict

ADMIN_ALONE = ("boss", "admin-only-password")
BOTH_ROLES = ("lead", "both-roles-password")
# in the worker's environment: no log, page or world-readable file may show it
WORKER_SECRET = "stackdeb-test-secret-" + os.urandom(8).hex()


def add_a_second_series(mini) -> None:
    """2026.2 (hibiscus, in development: its constraints on master), the master's second target."""
    (mini.releases / "deliverables/hibiscus").mkdir()
    (mini.releases / "deliverables/hibiscus/alpha.yaml").write_text(deliverable("1.0.0"))
    (mini.releases / "deliverables/hibiscus/beta.yaml").write_text(deliverable("2.0.0"))
    (mini.requirements / "master").mkdir()
    (mini.requirements / "master/upper-constraints.txt").write_text("libone===1.0.0\nlibtwo===0.5.0\n")


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    users = ((ENGINEER, ["release-engineer"]), (ADMIN_ALONE, ["admin"]), (BOTH_ROLES, ["release-engineer", "admin"]))
    with mini_master(tmp_path_factory.mktemp("buildbot"), prepare=add_a_second_series, users=users,
                     env={"STACKDEB_TEST_SECRET": WORKER_SECRET},
                     start_args=["--also-target", "2026.2/bookworm"]) as running:
        yield running


def test_the_first_build_packages_every_service_into_staging(master):
    build = master.wait_idle(1)
    assert build["results"] == 0, master.step_summaries(build)
    assert master.counts() == {"pipeline": 1, "bundle": 1, "package-alpha": 1, "package-beta": 1,
                               "publish": 1, "promote": 0}
    status = master.stackdeb("repo", "status").stdout
    assert "venv-alpha" in status and "1.0.0-1+os2026.1.deb12.1" in status and "venv-beta" in status
    # the package step builds once; the proof runs after publish, in a builder of its own
    report = master.step_summaries(master.builds("package-alpha")[-1])
    assert "lintian not run; not checked" in report, report
    proved = master.builds("prove")
    assert len(proved) == 1 and proved[0]["results"] == 0, master.step_summaries(proved[-1])
    assert "2 package(s) proven reproducible and lintian-clean (2 now" in master.step_summaries(proved[0])
    # the steps' properties come from stackdeb's --json results, and name the bytes
    bundle = read_json(master.mini.bundle / "manifest.json")["sha256"]
    assert master.builds("bundle")[-1]["properties"]["bundle_sha256"][0] == bundle
    built = {}
    for service in ("alpha", "beta"):
        properties = master.builds(f"package-{service}")[-1]["properties"]
        record = read_json(master.mini.build / f"packages/2026.1-bookworm/{service}/manifest.json")
        assert properties["sha256"][0] == record["sha256"]
        built[service] = record["sha256"]
    proofs = proved[0]["properties"]["proofs"][0]
    assert {p["sha256"]: (p["reproducible"], p["lintian"]["errors"]) for p in proofs} == {
        sha256: (True, 0) for sha256 in built.values()}
    published = master.builds("publish")[-1]["properties"]
    assert published["generation"][0] >= 1
    assert sorted(p["sha256"] for p in published["published"][0]) == sorted([bundle, *built.values()])
    summaries = master.step_summaries(build)
    assert "no cluster (cluster.layout: none): nothing is promoted" in summaries, summaries
    assert master.builds("cluster") == [] and master.builds("images") == []


def test_a_new_version_on_the_index_alone_builds_nothing(master):
    """The index poller sees alpha-svc 1.0.1 and starts alpha's pipeline for each target;
    openstack/releases does not list 1.0.1 yet, so 2026.1's lock is unchanged and nothing is
    built there (2026.2, never built yet, gets its first alpha)."""
    before = master.counts()
    master.index.add_wheel("alpha-svc", "1.0.1", requires=["libone"],
                           console_scripts={"alpha-manage": "alpha_svc:main"},
                           modules={"alpha_svc/wsgi/__init__.py": "", "alpha_svc/wsgi/api.py": "application = None\n"})
    master.wait_idle(before["pipeline"] + 2)
    builds = {b["properties"]["target"][0]: b for b in master.builds("pipeline")[before["pipeline"]:]}
    assert sorted(builds) == ["2026.1-bookworm", "2026.2-bookworm"]
    build = builds["2026.1-bookworm"]
    assert build["results"] == 0, master.step_summaries(build)
    assert build["properties"]["services"][0] == ["alpha"] and build["properties"]["version"][0] == "1.0.1"
    assert "no service changed: nothing to build" in master.step_summaries(build)
    assert builds["2026.2-bookworm"]["results"] == 0, master.step_summaries(builds["2026.2-bookworm"])
    after = master.counts()
    assert after["package-alpha"] == before["package-alpha"] + 1          # 2026.2's first alpha
    assert after["package-beta"] == before["package-beta"]


def test_a_new_release_upstream_builds_only_that_service(master):
    before = master.counts()
    commit(master.releases, "master", {"deliverables/gazpacho/alpha.yaml": deliverable("1.0.0", "1.0.1")},
           "Release alpha 1.0.1")
    build = master.wait_idle(before["pipeline"] + 1)
    assert build["results"] == 0, master.step_summaries(build)
    assert build["properties"]["services"][0] == ["alpha"]
    assert build["properties"]["release"][0] == "2026.1"            # gazpacho's target, not 2026.2's
    after = master.counts()
    assert after["pipeline"] == before["pipeline"] + 1
    assert after["package-alpha"] == before["package-alpha"] + 1
    assert after["package-beta"] == before["package-beta"]          # untouched service: not rebuilt
    assert after["publish"] == before["publish"] + 1
    status = master.stackdeb("repo", "status").stdout
    assert "1.0.1-1+os2026.1.deb12.2" in status, status
    assert "2.0.0-1+os2026.1.deb12.1" in status, status            # beta kept its version


def test_a_release_in_another_series_builds_for_that_series_target_only(master):
    before = master.counts()
    status_2026_1 = master.stackdeb("repo", "status").stdout
    commit(master.releases, "master", {"deliverables/hibiscus/alpha.yaml": deliverable("1.0.0", "1.0.1")},
           "Release alpha 1.0.1 in hibiscus")
    build = master.wait_idle(before["pipeline"] + 1)
    assert build["results"] == 0, master.step_summaries(build)
    assert build["properties"]["target"][0] == "2026.2-bookworm"
    assert master.counts()["pipeline"] == before["pipeline"] + 1
    status = master.stackdeb("repo", "status", "--release", "2026.2", "--suite", "bookworm").stdout
    assert "1.0.1-1+os2026.2.deb12.2" in status and "other targets: 2026.1-bookworm" in status, status
    unchanged = master.stackdeb("repo", "status").stdout
    assert [line for line in unchanged.splitlines() if "venv-" in line] == \
        [line for line in status_2026_1.splitlines() if "venv-" in line]


def test_the_force_form_offers_only_the_configured_targets(master):
    before = master.counts()
    code, body = master.engineer.call("forceschedulers/build", "force", builderid=None, reason="test",
                                      target="2025.1-trixie", services=[], rebuild=False, publish=False)
    assert code != 200 and "2025.1-trixie" in json.dumps(body), (code, body)
    assert master.counts() == before


def test_an_upper_constraints_change_rebuilds_the_bundle_and_the_affected_services(master):
    before = master.counts()
    master.index.add_sdist("libtwo", "0.6.0")
    commit(master.requirements, "stable/2026.1", {"upper-constraints.txt": "libone===1.0.0\nlibtwo===0.6.0\n"},
           "Update libtwo to 0.6.0")
    build = master.wait_idle(before["pipeline"] + 1)
    assert build["results"] == 0, master.step_summaries(build)
    after = master.counts()
    assert after["bundle"] == before["bundle"] + 1
    assert after["package-beta"] == before["package-beta"] + 1     # beta needs libtwo
    assert after["package-alpha"] == before["package-alpha"]       # alpha does not
    assert "2.0.0-1+os2026.1.deb12.3" in master.stackdeb("repo", "status").stdout


def test_a_forced_build_does_what_its_parameters_say(master):
    before = master.counts()
    code, body = master.engineer.call("forceschedulers/build", "force", builderid=None, reason="test",
                                      target="2026.1-bookworm", services=["beta"],
                                      rebuild=True, publish=False)
    assert code == 200, body
    build = master.wait_idle(before["pipeline"] + 1)
    assert build["results"] == 0, master.step_summaries(build)
    after = master.counts()
    assert after["package-beta"] == before["package-beta"] + 1     # rebuilt though unchanged
    assert after["package-alpha"] == before["package-alpha"]
    assert after["publish"] == before["publish"]                   # publish: no


def test_anonymous_users_can_look_but_not_act(master):
    finished = master.builds("package-beta")[-1]
    verdict = signed_verdict(master)
    promote = dict(builderid=None, reason="cluster passed", target="2026.1-bookworm",
                   verdict=str(verdict))
    actions = [("forceschedulers/build", "force", dict(builderid=None, target="2026.1-bookworm",
                                                        services=[], rebuild=False, publish=False)),
               ("forceschedulers/promote", "force", promote),
               (f"builds/{finished['buildid']}", "rebuild", {}),
               (f"builds/{finished['buildid']}", "stop", {})]
    assert master.anonymous.get("builders")["builders"]            # looking is allowed
    before = master.counts()
    for path, method, params in actions:
        code, body = master.anonymous.call(path, method, **params)
        assert code == 403, (path, method, code, body)
    assert master.counts() == before                                # nothing started
    for path, method, params in actions[1:]:
        code, body = master.engineer.call(path, method, **params)
        assert code == 200, (path, method, code, body)
    master.wait_idle(before["pipeline"])
    assert master.counts()["promote"] == before["promote"] + 1
    assert master.builds("promote")[-1]["results"] == 0, master.step_summaries(master.builds("promote")[-1])
    status = master.stackdeb("repo", "status").stdout
    assert "differs" not in status, status                          # tested == staging now


def test_each_role_may_do_exactly_what_the_docs_say(master):
    """anonymous: nothing; release-engineer: force, rebuild, stop (promote included); admin
    alone: all of it and every other control action (cancelling requests, pausing workers,
    enabling schedulers); both roles: the same as admin."""
    verdict = signed_verdict(master)
    worker = master.anonymous.get("workers")["workers"][0]["workerid"]
    quick = dict(builderid=None, reason="authz", target="2026.1-bookworm",
                 services=["beta"], rebuild=False, publish=False)    # plans, finds nothing to build
    clients = {"anonymous": master.anonymous, "release-engineer": master.engineer}
    for name, (user, password) in (("admin alone", ADMIN_ALONE), ("both", BOTH_ROLES)):
        clients[name] = WebClient(master.url)
        clients[name].login(user, password)
    scheduler = next(s["schedulerid"] for s in master.anonymous.get("schedulers")["schedulers"]
                     if s["name"] == "build")
    expected = {"anonymous": {"force build": 403, "force promote": 403, "rebuild": 403, "stop": 403,
                              "cancel request": 403, "pause worker": 403, "unpause worker": 403,
                              "enable scheduler": 403},
                "release-engineer": {"force build": 200, "force promote": 200, "rebuild": 200, "stop": 200,
                                     "cancel request": 403, "pause worker": 403, "unpause worker": 403,
                                     "enable scheduler": 403}}
    expected["admin alone"] = expected["both"] = dict.fromkeys(expected["anonymous"], 200)
    answers = {}
    for name, client in clients.items():
        master.wait_idle(master.counts()["pipeline"])
        answers[name] = {"force build": client.call("forceschedulers/build", "force", **quick)[0]}
        master.wait_idle(master.counts()["pipeline"])
        last = master.builds("pipeline")[-1]                 # a quick one: rebuilding it builds nothing
        actions = {"force promote": ("forceschedulers/promote", "force",
                                     dict(builderid=None, reason="authz", target="2026.1-bookworm",
                                          verdict=str(verdict))),
                   "rebuild": (f"builds/{last['buildid']}", "rebuild", {}),
                   "stop": (f"builds/{last['buildid']}", "stop", {}),
                   # its request is done: cancelling it changes nothing, and is asked all the same
                   "cancel request": (f"buildrequests/{last['buildrequestid']}", "cancel", {"reason": "authz"}),
                   "pause worker": (f"workers/{worker}", "pause", {"reason": "authz"}),
                   "unpause worker": (f"workers/{worker}", "unpause", {}),
                   "enable scheduler": (f"schedulers/{scheduler}", "enable", {"enabled": True})}
        answers[name].update({action: client.call(path, method, **params)[0]
                              for action, (path, method, params) in actions.items()})
    assert answers == expected
    master.wait_idle(master.counts()["pipeline"])


def test_no_log_page_or_readable_file_shows_a_secret(master):
    """The worker's environment holds a secret and master.yaml the worker's password: after
    the runs above, neither is in any log or page the web UI serves, to anyone, nor in the
    master's own logs, nor in any file under the master's directory that others can read."""
    import yaml
    basedir = master.mini.build / "master"
    password = yaml.safe_load((basedir / "master.yaml").read_text())["workers"][0]["password"]
    secrets = (WORKER_SECRET, password)
    clients = [master.anonymous, master.engineer]
    for user in (ADMIN_ALONE, BOTH_ROLES):
        clients.append(WebClient(master.url))
        clients[-1].login(*user)
    for client in clients:
        builds = client.get("builds?property=*")["builds"]
        assert len(builds) > 10
        pages = [json.dumps(builds), json.dumps(client.get("workers")), json.dumps(client.get("changes"))]
        for build in builds:
            for step in client.get(f"builds/{build['buildid']}/steps")["steps"]:
                for log in client.get(f"steps/{step['stepid']}/logs")["logs"]:
                    lines = client.get(f"logs/{log['logid']}/contents")["logchunks"]
                    pages.append("".join(chunk["content"] for chunk in lines))
        served = "\n".join(pages)
        assert "STACKDEB_BUILD_DIR" not in served            # no environment at all
        for secret in secrets:
            assert secret not in served
    for path in basedir.rglob("*"):
        if not path.is_file():
            continue
        mode = path.stat().st_mode
        text = path.read_bytes()
        for secret in secrets:
            if path.name.startswith("twistd.log") or mode & 0o044:      # others, or the group
                assert secret.encode() not in text, f"{path} (mode {mode & 0o777:o}) holds a secret"
    assert (basedir / "master.yaml").stat().st_mode & 0o777 == 0o600
    assert (basedir / "worker/buildbot.tac").stat().st_mode & 0o777 == 0o600


def test_a_screenshot_of_the_waterfall_is_not_blank(master, tmp_path):
    from PIL import Image
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: bootstrap.sh installs it"
    shot = tmp_path / "waterfall.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1400,900", "--virtual-time-budget=15000", f"--screenshot={shot}",
                    master.url + "#/waterfall"], check=True, capture_output=True, timeout=180)
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    background = max(colours)[0] / (image.width * image.height)
    assert len(colours) > 50 and background < 0.95, (len(colours), background)
    shutil.copy(shot, master.mini.build / "waterfall.png")   # kept with the run's outputs
