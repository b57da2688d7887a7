"""stackdeb package on the mini project: real dh-virtualenv builds in the suite's chroot."""

import io
import json
import re
import socket
import subprocess
import tarfile
from pathlib import Path

import pytest

from builders.chroot import build_chroot
from builders.manifest import read_json, sha256_file
from builders.package import package_report
from builders.project import Project
from builders.targets import get_suite
from builders.tools.namespace import run_in_chroot
from helpers import passing_verdict, snapshot


@pytest.fixture
def bundled(stackdeb, mini_project):
    for step in (("lock",), ("bundle",)):
        code, err = stackdeb(*step, "--index-url", mini_project.index.url)
        assert code == 0, err
    return mini_project


def out_dir(mini, service):
    return mini.build / "packages/2026.1-bookworm" / service


def contents(deb):
    return subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True).stdout


def test_a_service_builds_offline_reproducibly_and_lintian_clean(stackdeb, bundled):
    code, err = stackdeb("package", "alpha", "--check-reproducible")
    assert code == 0, err
    assert re.search(r"bit-identical rebuild, lintian 0 errors(, \d+ warnings)?(, \d+ \w+)* \[", err), err[-2000:]
    out = out_dir(bundled, "alpha")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["network_interfaces"] == ["lo"]
    assert manifest["version"] == "1.0.0-1+os2026.1.deb12.1"
    deb = out / manifest["deb"]
    listing = contents(deb)
    for path in ("./opt/venvs/alpha/bin/alpha-manage", "./usr/bin/alpha-manage -> /opt/venvs/alpha/bin/alpha-manage",
                 "./etc/alpha/uwsgi/alpha-api.ini", "/systemd/system/alpha-api.service",
                 "./opt/venvs/alpha/lib/python3.11/site-packages/libthree/__init__.py",
                 "./usr/share/man/man1/alpha-manage.1.gz"):
        assert path in listing, path
    assert "/bin/pip" not in listing
    extracted = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    assert b"/build/" not in extracted          # no build path anywhere in the payload, byte-code included
    # byte-code built with the package: checked-hash (flags 0b11), so no timestamp in it
    site = "./opt/venvs/alpha/lib/python3.11/site-packages/libthree"
    with tarfile.open(fileobj=io.BytesIO(extracted)) as payload:
        pyc = payload.extractfile(f"{site}/__pycache__/__init__.cpython-311.pyc").read()
        shipped = payload.getnames()
    assert int.from_bytes(pyc[4:8], "little") == 0b11
    # a test suite is shipped as the wheel has it, but not compiled: no service imports it
    assert f"{site}/tests/test_three.py" in shipped
    assert not [name for name in shipped if name.startswith(f"{site}/tests/") and name.endswith(".pyc")]
    assert manifest["lintian"] == "clean"
    # no error and no warning: what is real is fixed, the rest overridden with a reason
    assert not re.search(r"^[EW]: ", (out / "lintian.txt").read_text(), re.M)


def kept_verdict(bundled, deb) -> Path:
    """Where builders/lint keeps lintian's verdict on these bytes."""
    verdicts = list((bundled.cache / "lintian/bookworm").glob(f"*/{sha256_file(deb)}.txt"))
    assert len(verdicts) == 1, verdicts
    return verdicts[0]


def test_bytes_judged_before_are_not_judged_again_and_an_error_keeps_the_old_package(stackdeb, bundled):
    assert stackdeb("package", "alpha")[0] == 0
    out = out_dir(bundled, "alpha")
    deb = out / read_json(out / "manifest.json")["deb"]
    verdict = kept_verdict(bundled, deb)
    assert verdict.read_text() == (out / "lintian.txt").read_text()
    code, err = stackdeb("package", "alpha", "--force")      # the same inputs: the same bytes
    assert code == 0 and "lintian judged these exact bytes before" in err, err
    # a verdict with an error (as a stricter lintian would give) fails the build, and the
    # package that was there stays
    before = snapshot(out)
    verdict.write_text(verdict.read_text() + "E: venv-alpha: interpreter-in-usr-local /usr/local/bin/python [x.py]\n")
    try:
        code, err = stackdeb("package", "alpha", "--force")
        # with a later service building while alpha is judged: the same failure, and no
        # build is left behind in a scratch directory, whether beta got built or not
        several, several_err = stackdeb("package", "alpha", "beta", "--force")
    finally:
        verdict.unlink()
    assert code == 1 and "lintian found 1 errors in venv-alpha_" in err and "interpreter-in-usr-local" in err, err
    assert "Traceback" not in err and snapshot(out) == before
    assert "interpreter-in-usr-local" in (out.parent / "alpha.failed/lintian.txt").read_text()
    assert several == 1 and "lintian found 1 errors in venv-alpha_" in several_err, several_err
    assert "Traceback" not in several_err and snapshot(out) == before
    assert not [path.name for path in out.parent.iterdir() if path.name.startswith(".")
                and not path.name.endswith(".lock")]


def test_the_build_namespace_cannot_reach_a_server_the_host_can(bundled):
    """The namespace builds run in: a server on the host's loopback is out of reach."""
    host, port = bundled.index.url.split("//")[1].split("/")[0].split(":")
    socket.create_connection((host, int(port)), timeout=5).close()      # the host reaches it
    chroot = build_chroot(Project.from_env().chroot_dir, get_suite("bookworm"))
    chroot.ensure()
    probe = (f"python3 -c \"import socket; socket.create_connection(('{host}', {port}), timeout=5)\" "
             "2>&1 || echo unreachable")
    assert "unreachable" in run_in_chroot(chroot.rootfs, chroot.scratch, probe, binds=[], what="probe", fix="")


def test_only_changed_services_are_rebuilt(stackdeb, bundled):
    code, err = stackdeb("package", "--all", "--no-lintian", "--check-reproducible")
    assert code == 0 and err.count("bit-identical rebuild") == 2, err
    beta_before = snapshot(out_dir(bundled, "beta"))
    code, err = stackdeb("package", "--all", "--no-lintian")
    assert code == 0 and err.count("up to date (inputs unchanged)") == 2
    catalog = bundled.root / "packaging/services.yaml"
    catalog.write_text(catalog.read_text().replace("summary: Alpha test service", "summary: Alpha service"))
    assert stackdeb("bundle", "--index-url", bundled.index.url)[0] == 0   # the catalog is a bundle input
    code, err = stackdeb("package", "--all", "--no-lintian")
    assert code == 0, err
    assert "venv-alpha 1.0.0-1+os2026.1.deb12.1: building" in err
    assert "venv-beta: up to date" in err
    assert snapshot(out_dir(bundled, "beta")) == beta_before


def test_a_failing_build_keeps_the_previous_package_and_its_logs(stackdeb, bundled):
    assert stackdeb("package", "alpha", "--no-lintian")[0] == 0
    before = snapshot(out_dir(bundled, "alpha"))
    catalog = bundled.root / "packaging/services.yaml"
    catalog.write_text(catalog.read_text().replace(
        "  user: alpha\n", "  user: alpha\n  config_files: [alpha.conf]\n  config_namespaces: [no.such.namespace]\n"))
    assert stackdeb("bundle", "--index-url", bundled.index.url)[0] == 0
    code, err = stackdeb("package", "alpha", "--no-lintian")
    assert code == 1
    assert "dpkg-buildpackage: error" in err and "oslo-config-generator failed" in err, err
    assert "the logs are in" in err and (out_dir(bundled, "alpha").parent / "alpha.failed/build.log").exists()
    assert snapshot(out_dir(bundled, "alpha")) == before


def test_bad_input_is_refused_before_building(stackdeb, bundled):
    code, err = stackdeb("package", "gamma")
    assert code == 1 and "unknown service 'gamma'" in err
    code, err = stackdeb("package")
    assert code == 1 and "name the services to build, or pass --all" in err
    wheel = next((bundled.bundle / "wheelhouse/wheels").glob("libthree-*.whl"))
    wheel.unlink()
    code, err = stackdeb("package", "alpha")
    assert code == 1 and "the bundle lacks libthree==3.0.0, which alpha needs" in err
    assert not out_dir(bundled, "alpha").exists()


def test_a_broken_catalog_entry_is_refused(stackdeb, bundled):
    catalog = bundled.root / "packaging/services.yaml"
    catalog.write_text(catalog.read_text().replace("  user: beta\n", "  user: beta\n  daemons: [beta-worker]\n"))
    code, err = stackdeb("package", "beta")
    assert code == 1 and "service 'beta', field 'daemons': must be a mapping" in err
    assert not out_dir(bundled, "beta").exists()


def test_no_bundle_is_a_clear_error(stackdeb, mini_project):
    assert stackdeb("lock", "--index-url", mini_project.index.url)[0] == 0
    code, err = stackdeb("package", "alpha")
    assert code == 1 and "there is no bundle for 2026.1/bookworm" in err


def test_a_package_built_once_is_staged_and_proven_apart_and_only_proven_bytes_are_promoted(stackdeb, bundled):
    """What Buildbot does: build once, publish, prove beside the later stages. Promotion waits
    for the proof; the proof leaves the published outputs as they were and is made once."""
    assert stackdeb("package", "alpha", "beta", "--no-lintian")[0] == 0
    out = out_dir(bundled, "alpha")
    sha256 = read_json(out / "manifest.json")["sha256"]
    assert stackdeb("publish")[0] == 0
    verdict = passing_verdict(bundled.build)
    code, err = stackdeb("promote", "--verdict", str(verdict))
    assert code == 1 and "2 package(s) of the build set are not proven reproducible and lintian-clean: " \
                         "venv-alpha 1.0.0-1+os2026.1.deb12.1, venv-beta" in err, err
    assert "stackdeb prove --release 2026.1 --suite bookworm --all" in err and "Traceback" not in err
    built = snapshot(out)
    code, err = stackdeb("prove", "--all")
    assert code == 0, err
    assert err.count("bit-identical rebuild, lintian 0 errors") == 2, err
    assert snapshot(out) == built                        # the published outputs are not touched
    proof = read_json(bundled.build / f"proofs/{sha256}.json")
    assert proof["reproducible"] is True and proof["lintian"]["errors"] == 0 and proof["suite"] == "bookworm"
    assert (bundled.build / f"proofs/{sha256}.lintian.txt").is_file()
    code, err = stackdeb("prove", "alpha")               # the same bytes: not proven again
    assert code == 0 and "proven before (same sha256)" in err and "building again" not in err, err
    report = package_report(Project.from_env(), "2026.1", "bookworm", "alpha")
    assert report["reproducible"] == "bit-identical rebuild" and report["lintian"].startswith("0 errors, ")
    code, err = stackdeb("promote", "--verdict", str(verdict))
    assert code == 0, err


def test_a_package_older_than_its_inputs_is_not_proven(stackdeb, bundled):
    assert stackdeb("package", "alpha", "--no-lintian")[0] == 0
    catalog = bundled.root / "packaging/services.yaml"
    catalog.write_text(catalog.read_text().replace("summary: Alpha test service", "summary: Alpha service"))
    assert stackdeb("bundle", "--index-url", bundled.index.url)[0] == 0
    code, err = stackdeb("prove", "alpha")
    assert code == 1 and "was built from other inputs than the current lock, bundle and catalog" in err, err
    assert "stackdeb package --release 2026.1 --suite bookworm alpha" in err
    assert not list(bundled.build.glob("proofs/*.json"))
