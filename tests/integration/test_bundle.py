"""stackdeb bundle with real tools (uv build, bindep, dpkg-deb) against the fake index."""

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from helpers import snapshot


@pytest.fixture
def locked(stackdeb, mini_project):
    code, err = stackdeb("lock", "--index-url", mini_project.index.url)
    assert code == 0, err
    return mini_project


def bundle(stackdeb, mini, *extra):
    return stackdeb("bundle", "--index-url", mini.index.url, *extra)


def deb_of(mini):
    debs = list(mini.bundle.glob("*.deb"))
    assert len(debs) == 1
    return debs[0]


def test_bundle_lays_out_wheels_index_manifest_and_deb(stackdeb, locked):
    code, err = bundle(stackdeb, locked)
    assert code == 0, err
    wheelhouse = locked.bundle / "wheelhouse"
    manifest = json.loads((wheelhouse / "manifest.json").read_text())
    origins = {a["name"]: a["origin"] for a in manifest["artifacts"]}
    assert origins == {"alpha-svc": "downloaded", "beta-svc": "downloaded", "libone": "downloaded",
                       "libthree": "downloaded", "libtwo": "compiled", "uv": "downloaded"}
    libtwo = next(a for a in manifest["artifacts"] if a["name"] == "libtwo")
    assert libtwo["filename"] == "libtwo-0.5.0-py3-none-any.whl" and libtwo["source_sha256"]
    assert sorted(p.name for p in (wheelhouse / "wheels").iterdir()) == sorted(
        a["filename"] for a in manifest["artifacts"])
    page = (wheelhouse / "simple/libtwo/index.html").read_text()
    assert f'href="../../wheels/libtwo-0.5.0-py3-none-any.whl#sha256={libtwo["sha256"]}"' in page
    assert (wheelhouse / "requirements/beta.txt").read_text().count("--hash=sha256:") == 3

    deb = deb_of(locked)
    assert deb.name == "openstack-wheels-2026.1_2026.1+deb12.1_amd64.deb"
    fields = subprocess.run(["dpkg-deb", "--field", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "Package: openstack-wheels-2026.1" in fields and "Architecture: amd64" in fields
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "./usr/share/openstack-wheels/2026.1/wheels/libtwo-0.5.0-py3-none-any.whl" in listing
    assert "./usr/share/openstack-wheels/2026.1/simple/index.html" in listing
    assert "./usr/share/doc/openstack-wheels-2026.1/copyright" in listing
    assert "root/root" in listing


def test_a_second_run_does_nothing_and_a_rebuild_is_bit_identical(stackdeb, locked):
    assert bundle(stackdeb, locked)[0] == 0
    first = deb_of(locked).read_bytes()
    code, err = bundle(stackdeb, locked)
    assert code == 0 and "up to date (lock unchanged): nothing to do" in err
    code, err = bundle(stackdeb, locked, "--force")
    assert code == 0, err
    assert "compiling" not in err          # the compiled wheel came from the cache
    assert deb_of(locked).read_bytes() == first
    # a packaging revision changes no wheel: the bundle stays, and its bytes follow the lock
    # alone (its version is the lock generation), never the catalog file
    catalog = locked.root / "packaging/services.yaml"
    catalog.write_text(catalog.read_text().replace("  user: alpha\n", "  user: alpha\n  revision: 2\n"))
    code, err = bundle(stackdeb, locked)
    assert code == 0 and "up to date (lock unchanged): nothing to do" in err, err
    assert bundle(stackdeb, locked, "--force")[0] == 0 and deb_of(locked).read_bytes() == first


def test_install_a_service_from_the_bundle_with_no_network(locked, stackdeb, tmp_path):
    assert bundle(stackdeb, locked)[0] == 0
    wheelhouse = locked.bundle / "wheelhouse"
    venv = tmp_path / "venv"
    script = (f"/usr/bin/python3 -m venv {venv} && "
              f"{venv}/bin/pip install -q --no-index --find-links {wheelhouse}/wheels "
              f"--require-hashes -r {wheelhouse}/requirements/alpha.txt && "
              f"{venv}/bin/python -c 'import alpha_svc, libone, libthree; print(alpha_svc.VERSION)'")
    env = {**os.environ, "PIP_CONFIG_FILE": "/dev/null", "PIP_FIND_LINKS": ""}
    result = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1.0.0"
    assert (venv / "bin/alpha-manage").exists()


def test_an_index_serving_other_bytes_is_a_hash_mismatch(stackdeb, locked):
    locked.index.replace_bytes("libthree-3.0.0-py3-none-any.whl", b"not the locked wheel")
    code, err = bundle(stackdeb, locked)
    assert code == 1
    assert "hash mismatch for libthree-3.0.0-py3-none-any.whl: the lock expects sha256" in err
    assert not locked.bundle.exists()
    stored = [p.name for p in (locked.cache / "artifacts").rglob("*.whl")]
    assert "libthree-3.0.0-py3-none-any.whl" not in stored


def test_a_tampered_cache_file_fails_and_keeps_the_previous_bundle(stackdeb, locked):
    assert bundle(stackdeb, locked)[0] == 0
    before = snapshot(locked.bundle)
    cached = next((locked.cache / "artifacts").rglob("libone-1.0.0-py3-none-any.whl"))
    cached.chmod(0o644)
    cached.write_bytes(b"tampered")
    code, err = bundle(stackdeb, locked, "--force")
    assert code == 1 and "hash mismatch in the wheel cache" in err
    assert snapshot(locked.bundle) == before


def test_a_missing_tool_fails_and_keeps_the_previous_bundle(stackdeb, locked, monkeypatch, tmp_path):
    assert bundle(stackdeb, locked)[0] == 0
    before = snapshot(locked.bundle)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    code, err = bundle(stackdeb, locked, "--force")
    assert code == 1 and "required tool 'dpkg-deb' was not found on PATH" in err
    assert "hint: apt-get install dpkg" in err
    assert snapshot(locked.bundle) == before
    assert leftovers(locked.build / "bundles") == []


def leftovers(directory: Path) -> list[str]:
    """Staged or moved-aside outputs (builders/outputs.py), not the locks beside them."""
    return sorted(p.name for p in directory.glob(".*") if not p.name.endswith(".lock"))


def test_a_build_package_the_suite_lacks_is_named_before_compiling(stackdeb, locked):
    with open(locked.root / "requirements-bundles/bindep.txt", "a") as bindep:
        bindep.write("stackdeb-no-such-package [platform:dpkg libtwo]\n")
    code, err = bundle(stackdeb, locked)
    assert code == 1
    assert "cannot make the bookworm compile chroot for libtwo" in err, err[-2000:]
    assert "bindep.txt must exist in bookworm" in err and "stackdeb-no-such-package" in err
    assert "Traceback" not in err
    assert not locked.bundle.exists()


def test_a_catalog_naming_a_script_the_wheel_lacks_is_caught(stackdeb, locked):
    catalog = locked.root / "packaging/services.yaml"
    catalog.write_text(catalog.read_text().replace("console_scripts: [alpha-manage]",
                                                   "console_scripts: [alpha-manage, alpha-status]"))
    code, err = bundle(stackdeb, locked)
    assert code == 1
    assert "service 'alpha', field 'console_scripts': alpha_svc-1.0.0-py3-none-any.whl has no console script 'alpha-status'" in err


def test_no_lock_means_a_pointer_to_stackdeb_lock(stackdeb, mini_project):
    code, err = bundle(stackdeb, mini_project)
    assert code == 1 and "no lock for release '2026.1' on bookworm" in err
    assert "run: stackdeb lock --release 2026.1 --suite bookworm" in err


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="mounting a tmpfs needs root")
def test_a_full_disk_fails_cleanly_and_leaves_nothing_half_written(stackdeb, locked, tmp_path, monkeypatch):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        monkeypatch.setenv("STACKDEB_BUILD_DIR", str(small))
        code, err = bundle(stackdeb, locked)
        assert code == 1
        assert "No space left on device" in err
        assert "Traceback" not in err
        assert not (small / "bundles/2026.1-bookworm").exists()
        assert leftovers(small / "bundles") == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_sdists_compile_in_a_chroot_of_each_target_suite(stackdeb, mini_project):
    """On this bookworm host, a native sdist compiles with bookworm's Python and glibc for
    bookworm and with trixie's for trixie (a trixie compile chroot), each cached for its own
    suite; a pure-Python wheel compiled once serves both suites."""
    from fakeindex import sdist_bytes
    mini = mini_project
    mini.index.republish("libtwo", "libtwo-0.5.0.tar.gz", sdist_bytes("libtwo", "0.5.0", native=True))
    built = {}
    for suite, python, glibc in (("bookworm", "3.11", "2.36"), ("trixie", "3.13", "2.41")):
        for command in ("lock", "bundle"):
            code, err = stackdeb(command, "--suite", suite, "--index-url", mini.index.url)
            assert code == 0, err[-3000:]
        assert f"compiling libtwo-0.5.0.tar.gz for {suite}" in err
        tag = "cp" + python.replace(".", "")
        wheelhouse = mini.build / f"bundles/2026.1-{suite}/wheelhouse"
        wheel = wheelhouse / f"wheels/libtwo-0.5.0-{tag}-{tag}-linux_x86_64.whl"
        with zipfile.ZipFile(wheel) as archive:
            built[suite] = archive.read("libtwo/BUILT_WITH").decode()
        assert built[suite].startswith(f"python={python}.") and f"libc=glibc {glibc}" in built[suite]
    assert sorted(p.name for p in (mini.cache / "compiled").iterdir()) == ["cp311-bookworm", "cp313-trixie"]


def test_a_pure_python_wheel_compiled_for_one_suite_serves_the_other(stackdeb, locked):
    assert bundle(stackdeb, locked)[0] == 0
    for command in ("lock", "bundle"):
        code, err = stackdeb(command, "--suite", "trixie", "--index-url", locked.index.url)
        assert code == 0, err[-3000:]
    assert "compiling" not in err
    manifest = json.loads((locked.build / "bundles/2026.1-trixie/wheelhouse/manifest.json").read_text())
    libtwo = next(a for a in manifest["artifacts"] if a["name"] == "libtwo")
    assert libtwo["filename"] == "libtwo-0.5.0-py3-none-any.whl" and libtwo["origin"] == "compiled"
    assert [p.name for p in (locked.cache / "compiled").iterdir()] == ["any"]


def test_build_requirements_come_only_from_the_lock(stackdeb, mini_project):
    """The compile chroot has no network: an sdist's build requirement must be locked
    (build-backends.txt), and then it is installed from the lock's own wheel."""
    from fakeindex import sdist_bytes
    mini = mini_project
    mini.index.republish("libtwo", "libtwo-0.5.0.tar.gz", sdist_bytes("libtwo", "0.5.0", build_requires=["libthree"]))
    assert stackdeb("lock", "--index-url", mini.index.url)[0] == 0
    code, err = bundle(stackdeb, mini)
    assert code == 1 and "compiling libtwo-0.5.0.tar.gz failed" in err, err[-3000:]
    assert "libthree" in err and "requirements-bundles/build-backends.txt" in err
    assert not mini.bundle.exists()

    (mini.root / "requirements-bundles/build-backends.txt").write_text("libthree   # libtwo's build backend\n")
    assert stackdeb("lock", "--index-url", mini.index.url)[0] == 0
    manifest = json.loads((mini.lock_dir / "manifest.json").read_text())
    assert manifest["build_backends"] == ["libthree==3.0.0"]
    code, err = stackdeb("-v", "bundle", "--index-url", mini.index.url)     # verbose: the commands run
    assert code == 0, err[-3000:]
    assert "--propagation private --net sh" in err      # the compile's own, empty network namespace
