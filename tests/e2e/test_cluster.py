"""The test cluster, for real: keystone, glance and placement built and published, then two
VMs under qemu (TCG here) discovered over iPXE, given roles, installed from staging,
configured and smoke-tested with Tempest from outside; a passing verdict promotes them. The
passing run goes through the embedded Buildbot master's pipeline, as the README's main job
does (the same builders, steps and promotion): a pipeline that fails after a passing cluster
fails here. Then a change to one service (placement's revision bumped): the default run
tests it on one machine beside keystone from the tested suite and promotes placement alone;
with nothing changed after that, nothing is tested. Opt-in, a glance broken on purpose the same
way: a failing verdict that names glance, nothing promoted, and `repo status` says why.

Everything the VMs reach is on the run's own network namespace (see builders/cluster/);
this test reaches the repository on 127.0.0.1 only.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from builders import PROJECT_DIR
from builders.chroot import runtime_chroot
from builders.cluster.network import REPO_URL
from builders.buildmaster.embedded import WebClient, follow_pipeline
from builders.errors import StackdebError
from builders.fileserver import start_file_server
from builders.inventory import Inventory
from builders.manifest import sha256_file
from builders.project import Project
from builders.targets import get_suite
from builders.tools.namespace import Bind, run_in_chroot

pytestmark = [pytest.mark.network, pytest.mark.slow]
TESTED = "bookworm-2026.1"
SERVICES = ("venv-keystone", "venv-glance", "venv-placement")

APT_CLIENT = """\
cp /stackdeb/public/stackdeb-archive-keyring.gpg /usr/share/keyrings/
printf 'Types: deb\\nURIs: {url}\\nSuites: {suite}\\nComponents: main\\nSigned-By: {keyring}\\n' \\
    > /etc/apt/sources.list.d/stackdeb.sources
apt-get update -qq
for p in {packages}; do echo "candidate $p $(apt-cache policy $p | sed -n 's/ *Candidate: //p')"; done
"""


def stackdeb(env, *args):
    return subprocess.run([sys.executable, "-m", "builders.cli", *args], env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def target(real_packages, tmp_path_factory):
    """The packages published to the staging suite of a repository of this module, and the
    images built for it (the node image trusts that repository's key)."""
    work = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "STACKDEB_BUILD_DIR": str(real_packages), "STACKDEB_REPO_DIR": str(work / "repo")}
    debs = sorted(str(p) for p in (real_packages / "packages/2026.1-bookworm").glob("*/venv-*.deb"))
    for args in (["publish", *debs], ["image", "discovery"], ["image", "node", "--repo-url", REPO_URL]):
        result = stackdeb(env, *args)
        assert result.returncode == 0, (args, result.stderr[-4000:])
    yield env, work / "repo"
    for home in (work / "repo/gnupg", real_packages / "cluster/gnupg"):
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True)


def leftovers(env) -> list[str]:
    """Namespaces, VMs, DHCP servers and proxies of this test's cluster runs still around (a
    run's namespace is stackdeb-<its pid>, its directory <time>-<its pid>, and each of its
    processes names a file in that directory): other runs on the machine are not ours."""
    runs = Path(env["STACKDEB_BUILD_DIR"]) / "cluster"
    pids = {d.name.rsplit("-", 1)[-1] for d in runs.glob("*/*-*") if d.is_dir()}
    found = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
             if n.startswith("stackdeb-") and n[len("stackdeb-"):] in pids]
    for program in ("qemu-system-x86_64", "dnsmasq", "apt-cacher-ng"):
        if subprocess.run(["pgrep", "-f", f"{program} .*{runs}/"], capture_output=True).returncode == 0:
            found.append(program)
    return found


def verdict_of(env) -> tuple[dict, str]:
    report = json.loads(stackdeb(env, "cluster", "--report", "--json").stdout)
    return json.loads(Path(report["verdict"]).read_text()), report["verdict"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def step_logs(client: WebClient, stepid: int) -> dict[str, str]:
    """A step's logs by name, their lines without Buildbot's stream marks."""
    found = {}
    for log in client.get(f"steps/{stepid}/logs")["logs"]:
        chunks = client.get(f"logs/{log['logid']}/contents")["logchunks"]
        text = "".join(c["content"] for c in chunks)
        found[log["name"]] = "\n".join(line[1:] if log["type"] == "s" else line for line in text.splitlines())
    return found


def pipeline_run(env, services: list[str], layout: str = "minimal") -> dict:
    """The embedded master (as `./bootstrap.sh` starts it: the minimal layout, promotion on a
    pass) asked by a release engineer to build these services; followed to the end like the
    README's main job. Returns what the pipeline did: its outcome and each build's steps."""
    web_port = free_port()
    start = stackdeb(env, "master", "start", "--nightly", "off", "--no-kick-off", "--web-port", str(web_port),
                     "--worker-port", str(free_port()), "--poll-interval", "3600", "--cluster-layout", layout)
    assert start.returncode == 0, start.stderr[-3000:]
    master = Path(env["STACKDEB_BUILD_DIR"]) / "master"
    try:
        client = WebClient(start.stdout.strip())
        client.login("admin", (master / "admin-password").read_text().strip())
        status, body = client.call("forceschedulers/build", "force", builderid=None, reason="e2e cluster test",
                                   target="2026.1-bookworm", services=services, rebuild=False, publish=True)
        assert status == 200, body
        try:
            follow_pipeline(client, body["result"][0])
            failed = None
        except StackdebError as error:
            failed = str(error)
        names = {b["builderid"]: b["name"] for b in client.get("builders")["builders"]}
        builds = {}
        for build in client.get("builds?order=buildid&property=*")["builds"]:
            steps = client.get(f"builds/{build['buildid']}/steps")["steps"]
            builds.setdefault(names[build["builderid"]], []).append(
                {**build, "steps": {s["name"]: s["state_string"] for s in steps},
                 "logs": {s["name"]: step_logs(client, s["stepid"]) for s in steps if s["name"] == "report"}})
        return {"failed": failed, "builds": builds}
    finally:
        stackdeb(env, "master", "stop")


def apt_candidates(repo: Path) -> dict[str, str]:
    """What an apt client of the tested suite sees as candidates, from a clean chroot."""
    server = start_file_server(repo / "public")
    script = APT_CLIENT.format(url=f"http://127.0.0.1:{server.server_address[1]}/", suite=TESTED,
                               keyring="/usr/share/keyrings/stackdeb-archive-keyring.gpg", packages=" ".join(SERVICES))
    chroot = runtime_chroot(Project.from_env().chroot_dir, get_suite("bookworm"))
    chroot.ensure()
    try:
        out = run_in_chroot(chroot.rootfs, chroot.scratch, script, network=True, what="the apt client", fix="",
                            # the whole repository: public/ links through live/
                            binds=[Bind(repo, "/stackdeb")])
    finally:
        server.shutdown()
    # apt-cache policy prints nothing at all for a package no index lists
    return {line.split()[1]: (line.split() + ["(none)"])[2] for line in out.splitlines()
            if line.startswith("candidate ")}


def test_a_machine_that_never_reports_fails_the_run_and_leaves_nothing_behind(target):
    env, _ = target
    result = stackdeb({**env, "STACKDEB_CLUSTER_TIMEOUTS": "report=5"}, "cluster")
    assert result.returncode == 1, result.stderr[-3000:]
    assert leftovers(env) == []
    verdict, _ = verdict_of(env)
    failure = verdict["failure"]
    assert failure["phase"] == "report" and failure["machine"] == "machine1", failure
    assert "did not report within 5s" in failure["message"] and failure["log"].endswith("machine1-discovery.log")


def test_an_interrupted_run_tears_everything_down(target):
    env, _ = target
    run = subprocess.Popen([sys.executable, "-m", "builders.cli", "cluster"], env=env, stderr=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, text=True)
    for line in run.stderr:          # the VMs are booting once the report phase starts
        if "cluster: report ..." in line:
            break
    run.send_signal(signal.SIGTERM)   # what Buildbot's stop sends
    run.stderr.read()
    assert run.wait(120) == 130
    assert leftovers(env) == []
    verdict, _ = verdict_of(env)
    assert verdict["result"] == "fail" and verdict["failure"]["message"] == "interrupted"
    assert verdict["failure"]["phase"] == "report"


@pytest.fixture(scope="module")
def passing_run(target):
    """One run of the minimal layout through the pipeline, shared by the tests that read what it
    proved. Before it, the tested suite offers none of the packages."""
    env, repo = target
    before = apt_candidates(repo)
    pipeline = pipeline_run(env, ["keystone", "glance", "placement"])
    left = leftovers(env)
    verdict, path = verdict_of(env)
    return pipeline, left, before, verdict, Path(path)


def test_the_pipeline_tests_the_build_set_on_the_cluster_and_promotes_it_on_a_pass(target, passing_run):
    env, repo = target
    pipeline, left, before, verdict, path = passing_run
    assert before == {name: "(none)" for name in SERVICES}
    assert left == []
    builds = pipeline["builds"]
    summaries = {name: [b["steps"] for b in found] for name, found in builds.items()}
    assert pipeline["failed"] is None, summaries
    (cluster,) = builds["cluster"]
    assert cluster["results"] == 0, cluster["steps"]
    assert cluster["steps"]["report"].startswith("PASS: "), cluster["steps"]
    assert cluster["properties"]["verdict"][0] == str(path)
    assert [name for name in cluster["steps"] if name.startswith("phase ")] == [
        f"phase {p['name']}" for p in verdict["phases"]]
    (promoted,) = builds["promote"]
    assert promoted["results"] == 0 and promoted["properties"]["verdict"][0] == str(path), promoted["steps"]
    staged = {p["name"]: p["version"] for p in verdict["build_set"]["packages"]}
    assert apt_candidates(repo) == {name: staged[name] for name in SERVICES}


def test_the_verdict_shows_what_the_passing_run_installed_and_tested(passing_run):
    *_, verdict, path = passing_run
    assert verdict["result"] == "pass" and verdict["failure"] is None
    staged = {p["name"]: p["version"] for p in verdict["build_set"]["packages"]}
    roles = {m["role"]: m for m in verdict["machines"]}
    assert set(roles) == {"controller", "image"}
    assert roles["controller"]["installed"] == {"venv-keystone": staged["venv-keystone"],
                                                "venv-placement": staged["venv-placement"]}
    assert roles["image"]["installed"] == {"venv-glance": staged["venv-glance"]}
    # apt's own word on the bytes it installed: the build set's
    sha256 = {p["name"]: p["sha256"] for p in verdict["build_set"]["packages"]}
    for machine in verdict["machines"]:
        assert machine["installed_sha256"] == {name: sha256[name] for name in machine["installed"]}, machine
    assert sorted(verdict["coverage"]["covered"]) == sorted(SERVICES) and verdict["coverage"]["not_covered"] == {}
    passed = [t for t in verdict["tests"] if t["source"] == "tempest" and t["result"] == "passed"]
    assert len([t for t in passed if t["service"] == "keystone"]) >= 5, verdict["tempest"]
    assert len([t for t in passed if t["service"] == "glance"]) >= 2, verdict["tempest"]
    assert verdict["tempest"]["failed"] == 0
    own = {t["name"]: t["result"] for t in verdict["tests"] if t["source"] == "stackdeb"}
    assert own["stackdeb.placement.resource_provider_create_list"] == "passed"
    assert own["stackdeb.unit_active.glance-api"] == "passed"
    assert [p["name"] for p in verdict["phases"]] == ["network", "boot", "report", "assign", "image", "install",
                                                      "configure", "smoke"]
    for name in ("machine1-discovery-console", "machine2-node-console", "tempest", "machine2-journals"):
        assert os.path.getsize(verdict["logs"][name]) > 0, name
    assert os.stat(path.parent / "secrets.json").st_mode & 0o777 == 0o600


def test_the_report_step_shows_the_tail_of_each_log_of_the_run(passing_run):
    """The logs travel as logs of the report step (the result names them, never holds them)."""
    pipeline, *_, verdict, _ = passing_run
    (cluster,) = pipeline["builds"]["cluster"]
    logs = cluster["logs"]["report"]
    assert set(verdict["logs"]) <= set(logs), sorted(logs)
    for name in ("tempest", "machine2-journals"):
        # the last plain line (the master turns carriage returns and some escapes into new lines)
        lines = Path(verdict["logs"][name]).read_text(errors="replace").split("\n")[-300:]
        last = next(line for line in reversed(lines) if line.strip() and line.isascii() and line.isprintable())
        assert last[:200] in logs[name], (name, last)


def test_the_discovery_agent_reported_each_vm_as_qemu_made_it(passing_run):
    """The live system booted over iPXE and its agent's report is the VM's real hardware."""
    *_, verdict, path = passing_run
    reports = {m["machine"]: m["report"] for m in Inventory(path.parent / "inventory.sqlite").machines()}
    assert set(reports) == {m["serial"] for m in verdict["machines"]}
    for machine in verdict["machines"]:
        report = reports[machine["serial"]]
        assert report["cpu"]["count"] == machine["cpus"], report["cpu"]
        memory = machine["memory_mb"] * 2**20
        assert 0.85 * memory < report["memory"]["total_bytes"] <= memory, report["memory"]
        (disk,) = report["disks"]
        assert disk["size_bytes"] == machine["disk_gb"] * 2**30
        assert disk["serial"] == f"SDBDISK{machine['name'].removeprefix('machine')}", disk
        (nic,) = report["nics"]
        assert nic["mac"] == machine["mac"] and nic["driver"] == "virtio_net" and nic["link"] is True, nic


def test_each_node_image_checked_its_staging_source_and_key_at_boot(passing_run):
    """The node image's own check, on the console of every machine that booted it."""
    *_, verdict, _ = passing_run
    for machine in verdict["machines"]:
        console = Path(verdict["logs"][f"{machine['name']}-node-console"]).read_text(errors="replace")
        assert "stackdeb-node: staging repository verified" in console, machine["name"]
        assert f"stackdeb-node: sources: URIs: {REPO_URL}" in console
        assert "stackdeb-node: sources: Suites: bookworm-2026.1-staging" in console
        assert "Signed-By: /usr/share/keyrings/stackdeb-archive-keyring.gpg" in console


def publish_changed(env, work: Path, service: str, change, *build_args) -> None:
    """One service's catalog entry changed (`change` edits it) in a copy of the project, its
    package built from the session's bundle in a build directory of its own (the session's
    packages stay as other tests know them) and published alone to staging; its proof, if
    built, kept beside the session's for promotion."""
    root, build = work / "project", work / "build"
    for folder in ("packaging", "requirements-bundles"):
        shutil.copytree(PROJECT_DIR / folder, root / folder)
    catalog = yaml.safe_load((root / "packaging/services.yaml").read_text())
    change(catalog[service])
    (root / "packaging/services.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    shared = Path(env["STACKDEB_BUILD_DIR"])
    build.mkdir()
    shutil.copytree(shared / "bundles", build / "bundles", copy_function=os.link)   # the same bundle
    changed = {**env, "STACKDEB_PROJECT_DIR": str(root), "STACKDEB_BUILD_DIR": str(build)}
    built = stackdeb(changed, "package", service, *build_args)
    assert built.returncode == 0, built.stderr[-3000:]
    (deb,) = (build / f"packages/2026.1-bookworm/{service}").glob(f"venv-{service}_*.deb")
    published = stackdeb(changed, "publish", str(deb))
    assert published.returncode == 0, published.stderr[-3000:]
    for proof in (build / "proofs").glob("*.json"):
        shutil.copy(proof, shared / "proofs" / proof.name)


@pytest.fixture(scope="module")
def one_change(target, passing_run, tmp_path_factory):
    """After the first promotion, one service changes: placement's catalog revision is bumped
    in a copy of the project, and a release engineer asks a master of that project (the
    default `--cluster-layout changed`) to build placement. Its build directory starts as a
    copy of the session's (hard links: the same bundle, packages, proofs and images), so the
    session's packages stay as other tests know them."""
    env, repo = target
    work = tmp_path_factory.mktemp("one-change")
    root, build = work / "project", work / "build"
    for folder in ("packaging", "requirements-bundles"):
        shutil.copytree(PROJECT_DIR / folder, root / folder)
    catalog = yaml.safe_load((root / "packaging/services.yaml").read_text())
    catalog["placement"]["revision"] = catalog["placement"].get("revision", 1) + 1
    (root / "packaging/services.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    shared = Path(env["STACKDEB_BUILD_DIR"])
    for part in ("bundles", "packages", "proofs", "images"):
        shutil.copytree(shared / part, build / part, copy_function=os.link, symlinks=True)
    changed = {**env, "STACKDEB_PROJECT_DIR": str(root), "STACKDEB_BUILD_DIR": str(build)}
    before = apt_candidates(repo)
    pipeline = pipeline_run(changed, ["placement"], layout="changed")
    left = leftovers(changed)
    verdict, path = verdict_of(changed)
    again = stackdeb(changed, "cluster", "--json")
    status = json.loads(stackdeb(changed, "repo", "status", "--json").stdout)
    yield {"pipeline": pipeline, "left": left, "verdict": verdict, "path": Path(path), "before": before,
           "after": apt_candidates(repo), "again": again, "status": status, "env": changed}
    subprocess.run(["gpgconf", "--homedir", str(build / "cluster/gnupg"), "--kill", "all"], capture_output=True)


def test_a_change_to_one_service_is_tested_beside_what_it_needs_and_promoted_alone(passing_run, one_change):
    first = passing_run[3]
    pipeline, verdict = one_change["pipeline"], one_change["verdict"]
    builds = pipeline["builds"]
    summaries = {name: [b["steps"] for b in found] for name, found in builds.items()}
    assert pipeline["failed"] is None, summaries
    assert [b["results"] for b in builds["package-placement"]] == [0] and "package-keystone" not in builds
    (cluster,) = builds["cluster"]
    assert cluster["results"] == 0 and cluster["steps"]["report"].startswith("PASS: "), cluster["steps"]
    (promoted,) = builds["promote"]
    assert promoted["results"] == 0 and promoted["properties"]["verdict"][0] == str(one_change["path"])
    assert one_change["left"] == []
    assert verdict["result"] == "pass" and verdict["layout"]["name"] == "changed"
    assert verdict["changes"] == {"changed": ["placement"], "from_tested": ["keystone"]}
    (node,) = verdict["machines"]           # two services: one machine
    old = {p["name"]: p["version"] for p in first["build_set"]["packages"]}
    new = {p["name"]: p["version"] for p in verdict["build_set"]["packages"]}
    assert new["venv-placement"] != old["venv-placement"] and new["venv-keystone"] == old["venv-keystone"]
    # keystone came from the tested suite (the version the first run proved), placement from staging
    assert node["installed"] == {"venv-keystone": old["venv-keystone"], "venv-placement": new["venv-placement"]}
    assert sorted(verdict["coverage"]["covered"]) == ["venv-keystone", "venv-placement"]
    assert verdict["coverage"]["not_covered"] == {"venv-glance": "no machine installed it"}
    before, after = one_change["before"], one_change["after"]
    assert before == {name: old[name] for name in SERVICES}
    assert after == {"venv-keystone": old["venv-keystone"], "venv-glance": old["venv-glance"],
                     "venv-placement": new["venv-placement"]}
    packages = one_change["status"]["packages"]
    assert packages["venv-placement"]["tested_by"] == sha256_file(one_change["path"])
    assert packages["venv-glance"]["tested_by"] == sha256_file(passing_run[4])
    assert all("waiting" not in packages[name] for name in SERVICES)


def test_with_nothing_changed_the_cluster_has_nothing_to_test_and_says_so(one_change):
    again = one_change["again"]
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["result"] == "nothing-to-test"
    assert "nothing changed: every service in staging is the one the tested suite holds" in again.stderr


@pytest.mark.skipif(not os.environ.get("STACKDEB_E2E_FAILING_CLUSTER"),
                    reason="a third real cluster run (about 10 minutes with its build) does not fit CI's 60 minutes; "
                           "set STACKDEB_E2E_FAILING_CLUSTER=1 (its last result is in docs/cluster.md)")
def test_a_broken_glance_fails_the_run_names_glance_and_promotes_nothing(target, one_change, tmp_path):
    """glance changed and broken: the default run tests it beside keystone from the tested
    suite, fails naming it, and `repo status` says glance failed in that verdict."""
    env, repo = target
    before = apt_candidates(repo)

    def break_it(entry):
        entry["revision"] = entry.get("revision", 1) + 1
        # a module that exists but serves no WSGI application: uwsgi cannot start the API
        entry["wsgi_apps"]["glance-api"]["module"] = "glance.version"
    publish_changed(env, tmp_path, "glance", break_it, "--no-lintian")
    result = stackdeb(env, "cluster")
    assert leftovers(env) == []
    assert result.returncode == 1 and "the cluster tests failed" in result.stderr, result.stderr[-3000:]
    verdict, path = verdict_of(env)
    failure = verdict["failure"]
    assert verdict["changes"] == {"changed": ["glance"], "from_tested": ["keystone"]}
    assert verdict["result"] == "fail" and failure["service"] == "glance" and failure["phase"] == "configure", failure
    assert failure["machine"] == "machine1" and "glance-api.service died at start" in failure["message"], failure
    assert os.path.getsize(failure["log"]) > 0
    refused = stackdeb(env, "promote", "--verdict", path)
    assert refused.returncode == 1 and "is not a passing verdict" in refused.stderr, refused.stderr
    assert apt_candidates(repo) == before
    waiting = json.loads(stackdeb(env, "repo", "status", "--json").stdout)["packages"]["venv-glance"]["waiting"]
    assert waiting.startswith(f"failed in verdict {sha256_file(Path(path))[:12]} (layout changed, "), waiting
    assert "glance-api.service died at start" in waiting
