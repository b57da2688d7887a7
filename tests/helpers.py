"""Plain helpers shared by the test tiers (fixtures live in conftest.py)."""

import json
import os
import subprocess
from pathlib import Path

from builders import PROJECT_DIR
from builders.manifest import sha256_file

# the upstream snapshot committed in the project (upstream/README.md)
SHARED_DATA = Path(os.environ.get("STACKDEB_SHARED_DATA", PROJECT_DIR / "upstream"))

MINI_CATALOG = """\
alpha:
  distribution: alpha-svc
  deliverable: alpha
  summary: Alpha test service
  import_name: alpha_svc
  user: alpha
  extra_requirements: [libthree]
  console_scripts: [alpha-manage]
  wsgi_apps:
    alpha-api: {module: alpha_svc.wsgi.api, port: 5000}
beta:
  distribution: beta-svc
  deliverable: beta
  summary: Beta test service
  import_name: beta_svc
  user: beta
"""

SERIES = """\
- name: hibiscus
  release-id: 2026.2
  status: development
- name: gazpacho
  release-id: 2026.1
  status: maintained
"""


def deliverable(*versions: str) -> str:
    return "releases:\n" + "".join(f"  - version: {v}\n    projects: []\n" for v in versions)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under a directory with its bytes, to prove nothing changed."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def make_deb(directory, name, version, arch="amd64", payload="one"):
    root = directory / f"{name}-{version}-{payload}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / f"usr/share/{name}").mkdir(parents=True)
    (root / f"usr/share/{name}/version").write_text(f"{version} {payload}\n")
    (root / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: t <t@stackdeb.invalid>\n"
        f"Section: net\nPriority: optional\nDescription: test package\n test package\n")
    out = directory / f"{name}-{version}-{payload}.out"
    out.mkdir()
    deb = out / f"{name}_{version}_{arch}_{payload}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)], check=True,
                   capture_output=True)
    # the build record publish checks a package against, as the bundle and package stages write it
    (out / "manifest.json").write_text(json.dumps({"deb": deb.name, "sha256": sha256_file(deb)}))
    return deb

# keystone installed by its package, set up as an operator would, and asked for a token by the
# packaged WSGI app (a shell script for a clean chroot of the suite)
KEYSTONE_SETUP = """\
printf '[database]\\nconnection = sqlite:////var/lib/keystone/keystone.db\\n' > /etc/keystone/keystone.conf
runuser -u keystone -- keystone-manage db_sync
keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone
keystone-manage credential_setup --keystone-user keystone --keystone-group keystone
runuser -u keystone -- keystone-manage bootstrap --bootstrap-password s3cret \\
    --bootstrap-public-url http://127.0.0.1:5000/v3/ --bootstrap-region-id RegionOne
"""

# a token from the packaged WSGI app, on the keystone set up above
KEYSTONE_TOKEN = """\
printf '%s' '{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
 "domain": {"id": "default"}, "password": "s3cret"}}},
 "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}' > /tmp/auth.json
# The packaged WSGI app, started as the packaged systemd unit starts it, in a network
# namespace of its own: its loopback is the only interface.
unshare --net sh -ec '
ip link set lo up
/opt/venvs/keystone/bin/uwsgi --ini /etc/keystone/uwsgi/keystone-api.ini \\
    --uid keystone --gid keystone --daemonize /tmp/uwsgi.log
for i in $(seq 90); do curl -sf -o /dev/null http://127.0.0.1:5000/v3 && break; sleep 1; done
curl -s -D /tmp/headers -o /tmp/body -H "Content-Type: application/json" \\
    -d @/tmp/auth.json http://127.0.0.1:5000/v3/auth/tokens
head -1 /tmp/headers
grep -i "^x-subject-token:" /tmp/headers | cut -c1-24
'
"""
KEYSTONE = KEYSTONE_SETUP + KEYSTONE_TOKEN


def passing_verdict(build: Path) -> Path:
    """A passing verdict for the live staged build set of 2026.1/bookworm in `build`/repo,
    signed with the cluster stage's own function and key."""
    from builders.cluster.verdict import write_signed
    from builders.repository.generations import Repository, build_set_of
    from builders.targets import get_suite
    repo = Repository(build / "repo")
    verdict = build / "verdict.json"
    build_set = build_set_of(repo, repo.live_generation(), get_suite("bookworm"), "2026.1")
    venvs = [p for p in build_set["packages"] if p["name"].startswith("venv-")]
    write_signed({"result": "pass", "target": {"release": "2026.1", "suite": "bookworm"}, "build_set": build_set,
                  "machines": [{"name": "machine1", "installed": {p["name"]: p["version"] for p in venvs},
                                "installed_sha256": {p["name"]: p["sha256"] for p in venvs}}],
                  "tests": [{"name": "smoke", "service": p["name"].removeprefix("venv-"), "result": "passed"}
                            for p in venvs]}, verdict, build)
    return verdict


def fill(directory: Path) -> Path:
    """A file taking every block left on `directory`'s file system (a full disk, on demand)."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    return filler
