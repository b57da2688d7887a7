#!/usr/bin/env python3
"""One venv package three ways, in one session of the same clean chroot (no network):

  stock     dh-virtualenv as usually set up: pip, bytecode at build time, the default xz -6,
            dh_strip_nondeterminism; only the overrides it needs to build at all
  stackdeb  the rules stackdeb renders (uv from the bundle, byte-code compiled in fixed
            shares, xz -0)
  floor     python3 -m venv + uv pip install + compileall (on all cores, but not the test
            suites, as stackdeb) + dpkg-deb at stackdeb's compression: the least any
            build of this package must do

    .venv/bin/python bench/package_build.py [SERVICE]      (default: keystone)

Needs the bundle of 2026.1/bookworm (stackdeb bundle). Times exclude installing the bundle
package into the chroot, which every way needs alike.
"""

import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from builders.bundle import read_lock  # noqa: E402
from builders.chroot import build_chroot  # noqa: E402
from builders.debian_dir import render_source_tree  # noqa: E402
from builders.package import COMPRESSION, Bundle, package_target  # noqa: E402
from builders.project import Project  # noqa: E402
from builders.tools.namespace import Bind, run_in_chroot  # noqa: E402

STOCK_RULES = """\
#!/usr/bin/make -f
export PIP_CONFIG_FILE := /dev/null
unexport PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL
export PIP_NO_INDEX := 1
export DH_VIRTUALENV_INSTALL_ROOT := /opt/venvs

%:
\tdh $@ --with python-virtualenv

override_dh_virtualenv:
\tdh_virtualenv --builtin-venv --python /usr/bin/python3 --install-suffix {service} \\
\t\t--skip-install --requirements debian/stackdeb/requirements.txt \\
\t\t--extra-pip-arg=--no-index --extra-pip-arg=--find-links={wheels} \\
\t\t--extra-pip-arg=--require-hashes
\tmkdir -p debian/{package}/etc/{service}
override_dh_strip:
\tdh_strip --exclude=/opt/venvs/
override_dh_makeshlibs:
\tdh_makeshlibs --exclude=/opt/venvs/
override_dh_shlibdeps:
\tdh_shlibdeps -l$(CURDIR)/debian/{package}/opt/venvs/{service}/lib/python{python}/site-packages -- --ignore-missing-info
override_dh_dwz:
"""

SCRIPT = """\
dpkg -i /stackdeb/bundle/{wheels_deb} > /dev/null
timed() {{
    label=$1; shift
    start=$(date +%s%N)
    if ! "$@" > /tmp/bench-$label.log 2>&1; then tail -30 /tmp/bench-$label.log; exit 1; fi
    echo "TIME $label $(( ($(date +%s%N) - start) / 1000000 ))"
}}
cd /work/stock/{source} && timed stock dpkg-buildpackage -b -us -uc
cd /work/stackdeb/{source} && timed stackdeb dpkg-buildpackage -b -us -uc
floor() {{
    mkdir -p /tmp/floor/DEBIAN /tmp/floor/opt/venvs &&
    python3 -m venv --without-pip /tmp/floor/opt/venvs/{service} &&
    /tmp/floor/opt/venvs/{service}/bin/python /work/stackdeb/{source}/debian/stackdeb/uv-pip install \\
        --no-index --find-links={wheels} --require-hashes -r /work/stackdeb/{source}/debian/stackdeb/requirements.txt &&
    python3 -m compileall -q -j 0 -x /tests/ --invalidation-mode checked-hash /tmp/floor/opt/venvs/{service}/lib > /dev/null 2>&1;
    printf 'Package: {package}\\nVersion: 1\\nArchitecture: amd64\\nMaintainer: bench <bench@stackdeb.invalid>\\nDescription: floor\\n floor\\n' > /tmp/floor/DEBIAN/control &&
    dpkg-deb --root-owner-group {compression} --build /tmp/floor /work/floor.deb
}}
timed floor floor
ls -l /work/stock/*.deb /work/stackdeb/*.deb /work/floor.deb | awk '{{print "SIZE", $5, $NF}}'
"""


def main() -> None:
    service_name = sys.argv[1] if len(sys.argv) > 1 else "keystone"
    project = Project.from_env()
    target = read_lock(project, "2026.1", "bookworm")
    service = project.catalog().get(service_name)
    bundle = Bundle(project, target)
    ptarget = package_target(target, service, bundle)
    chroot = build_chroot(project.chroot_dir, target.suite)
    chroot.ensure()
    work = Path(tempfile.mkdtemp(prefix="stackdeb-bench-pkg-"))
    try:
        wheels = f"/usr/share/openstack-wheels/{target.release}/wheels"
        for way in ("stock", "stackdeb"):
            src = render_source_tree(service, ptarget, work / way)
        stock_rules = work / "stock" / src.name / "debian/rules"
        stock_rules.write_text(STOCK_RULES.format(service=service.name, package=service.package_name,
                                                  wheels=wheels, python=target.suite.python))
        script = SCRIPT.format(wheels_deb=bundle.deb.name, source=src.name, service=service.name,
                               package=service.package_name, wheels=wheels,
                               compression=" ".join(COMPRESSION))
        out = run_in_chroot(chroot.rootfs, chroot.scratch, script, network=False,
                            binds=[Bind(bundle.dir, "/stackdeb/bundle"), Bind(work, "/work", read_only=False)],
                            what="the packaging benchmark", fix="")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    times = {m[0]: int(m[1]) / 1000 for m in re.findall(r"^TIME (\w+) (\d+)$", out, re.M)}
    sizes = re.findall(r"^SIZE (\d+) (\S+)$", out, re.M)
    print(f"venv-{service.name} for 2026.1/bookworm, one clean chroot, no network")
    for way in ("stock", "stackdeb", "floor"):
        size = next(int(s) for s, path in sizes if (way in path if way != "stackdeb" else "/stackdeb/" in path))
        print(f"  {way:9} {times[way]:7.1f} s   {size / 1e6:6.1f} MB")
    print(f"  stock / stackdeb: {times['stock'] / times['stackdeb']:.1f}x faster"
          f"   stackdeb / floor: {times['stackdeb'] / times['floor']:.2f}x")


if __name__ == "__main__":
    main()
