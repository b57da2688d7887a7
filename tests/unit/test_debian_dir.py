import subprocess
from dataclasses import replace

import pytest

from builders import PROJECT_DIR
from builders.catalog import load_catalog
from builders.debpackage import wheels_package_version
from builders.debian_dir import PackageTarget, control, finalize_config, render_source_tree, systemd_units
from builders.targets import get_suite

CATALOG = load_catalog(PROJECT_DIR / "packaging/services.yaml")
# keystone at packaging revision 1, whatever the catalog's revision is now
KEYSTONE = replace(CATALOG.get("keystone"), revision=1)
TARGET = PackageTarget(release="2026.1", suite=get_suite("bookworm"), upstream_version="29.0.2",
                       lock_generation=3, source_date_epoch=1795319225,
                       wheels_version="2026.1+deb12.3", requirements="keystone==29.0.2 --hash=sha256:00\n",
                       compression=["-Zxz", "-z0"])


def newer(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "gt", b]).returncode == 0





def test_versions_are_unique_per_release_and_suite():
    keystone = KEYSTONE
    bookworm = TARGET.package_version(keystone)
    trixie = replace(TARGET, suite=get_suite("trixie")).package_version(keystone)
    other_release = replace(TARGET, release="2026.2").package_version(keystone)
    assert len({bookworm, trixie, other_release}) == 3
    assert bookworm == "29.0.2-1+os2026.1.deb12.3"


def test_a_rebuild_on_a_newer_lock_or_packaging_revision_upgrades():
    keystone = KEYSTONE
    base = TARGET.package_version(keystone)
    assert newer(replace(TARGET, lock_generation=4).package_version(keystone), base)
    assert newer(replace(TARGET, lock_generation=10).package_version(keystone),
                 replace(TARGET, lock_generation=9).package_version(keystone))
    assert newer(TARGET.package_version(replace(keystone, revision=2)), base)
    assert newer(replace(TARGET, upstream_version="29.0.3", lock_generation=1).package_version(keystone), base)
    assert newer(replace(TARGET, suite=get_suite("trixie")).package_version(keystone), base)
    # a dist-upgrade replaces the bookworm build with trixie's, whatever their generations
    assert newer(replace(TARGET, suite=get_suite("trixie"), lock_generation=1).package_version(keystone),
                 replace(TARGET, lock_generation=40).package_version(keystone))
    assert newer(wheels_package_version("2026.1", 1, "13"), wheels_package_version("2026.1", 40, "12"))
    # and both sort above the versions of the earlier scheme
    assert newer(base, "29.0.2-1+os2026.1.3~deb12")
    assert newer(wheels_package_version("2026.1", 4, "12"), "2026.1+3~deb12")


def test_control_declares_dependencies_conflicts_and_the_exact_bundle():
    text = control(CATALOG.get("nova"), TARGET)
    assert "Package: venv-nova" in text
    assert "openstack-wheels-2026.1 (= 2026.1+deb12.3)" in text
    assert "python3 (>= 3.11), python3 (<< 3.12)" in text
    assert "qemu-utils" in text and "${shlibs:Depends}" in text
    assert "Conflicts: nova-common, nova-api, nova-compute, python3-nova" in text
    assert "Replaces: nova-common" in text


def test_units_exist_for_every_wsgi_app_and_daemon():
    units = systemd_units(CATALOG.get("nova"))
    assert set(units) == {"nova-api", "nova-metadata-api", "nova-conductor", "nova-scheduler",
                          "nova-compute", "nova-novncproxy"}
    assert "ExecStart=/opt/venvs/nova/bin/uwsgi --ini /etc/nova/uwsgi/nova-api.ini" in units["nova-api"]
    assert "ExecStart=/opt/venvs/nova/bin/nova-conductor" in units["nova-conductor"]
    assert "User=nova" in units["nova-conductor"]


def test_the_sample_config_uses_the_catalog_namespaces():
    config = finalize_config(CATALOG.get("glance"))
    assert config["generated_configs"] == [{"path": "/etc/glance/glance-api.conf",
                                            "namespaces": ["glance.api", "glance.store"]}]
    ini = config["files"]["/etc/glance/uwsgi/glance-api.ini"]
    assert "module = glance.wsgi.api:application" in ini and "http-socket = :9292" in ini


def test_the_source_tree_has_everything_debhelper_needs(tmp_path):
    src = render_source_tree(KEYSTONE, TARGET, tmp_path)
    debian = src / "debian"
    for name in ("control", "changelog", "rules", "copyright", "source/format", "venv-keystone.postinst",
                 "venv-keystone.postrm", "venv-keystone.links",
                 "venv-keystone.keystone-api.service", "venv-keystone.lintian-overrides",
                 "venv-keystone.logrotate", "stackdeb/requirements.txt", "stackdeb/uv-pip",
                 "stackdeb/finalize.py", "stackdeb/finalize.json"):
        assert (debian / name).is_file(), name
    assert (debian / "rules").stat().st_mode & 0o111
    rules = (debian / "rules").read_text()
    assert "--extra-pip-arg=--no-index" in rules and "PIP_CONFIG_FILE := /dev/null" in rules
    assert "dh_installsystemd --name=keystone-api --no-enable --no-start" in rules
    assert "opt/venvs/keystone/bin/keystone-manage usr/bin/keystone-manage" in (debian / "venv-keystone.links").read_text()
    changelog = (debian / "changelog").read_text()
    assert changelog.startswith("venv-keystone (29.0.2-1+os2026.1.deb12.3) bookworm; urgency=medium")
    lines = [line for line in (debian / "venv-keystone.lintian-overrides").read_text().splitlines() if line]
    assert all(lines[i - 1].startswith("#") for i, line in enumerate(lines) if not line.startswith("#"))


def test_a_catalog_revision_must_be_a_positive_integer(tmp_path):
    from builders.errors import StackdebError
    path = tmp_path / "services.yaml"
    path.write_text("svc:\n  distribution: d\n  deliverable: d\n  summary: s\n  import_name: d\n"
                    "  user: d\n  revision: 0\n")
    with pytest.raises(StackdebError, match="field 'revision'"):
        load_catalog(path)


def test_changelog_lines_fit_policy_width():
    from builders.debian_dir import changelog
    text = changelog(CATALOG.get("placement"), TARGET)     # openstack-placement: a long name
    changes = [line for line in text.splitlines() if line.startswith("  ")]    # not the trailer
    assert "openstack-placement" in text and changes and max(map(len, changes)) <= 80
