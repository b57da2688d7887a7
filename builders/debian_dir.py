"""Render a venv package's source tree (debian/) from one catalog entry.

control and changelog are built with python-debian; the other files come from the
templates in packaging/templates/ (string.Template, `${name}` placeholders).
"""

import json
import os
import shutil
import stat
import textwrap
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from string import Template

from debian.changelog import Changelog
from debian.deb822 import Deb822

from builders.catalog import Service
from builders.debpackage import MAINTAINER, wheels_package_name
from builders.targets import Suite

TEMPLATES = Path(__file__).resolve().parent.parent / "packaging" / "templates"
DEBHELPER_COMPAT = "13"
STANDARDS_VERSION = "4.6.2"


@dataclass(frozen=True)
class PackageTarget:
    """Everything a venv package build needs besides the catalog entry."""
    release: str
    suite: Suite
    upstream_version: str
    lock_generation: int
    source_date_epoch: int
    wheels_version: str          # the exact openstack-wheels package to build against
    requirements: str            # the service's hash-pinned closure from the bundle
    compression: list[str]       # dpkg-deb compression arguments

    def package_version(self, service: Service) -> str:
        """Unique per release and suite; a rebuild on a newer lock generation or packaging
        revision sorts higher, and so does a newer upstream version. The suite comes before
        the generation, so a bookworm build always sorts below a trixie one of the same
        release (a dist-upgrade replaces it) whatever their generations."""
        return (f"{self.upstream_version}-{service.revision}+os{self.release}."
                f"{self.suite.version_marker}.{self.lock_generation}")


def render(name: str, **values) -> str:
    return Template((TEMPLATES / name).read_text()).substitute(values)


def control(service: Service, target: PackageTarget) -> str:
    source = Deb822()
    source["Source"] = service.package_name
    source["Section"] = "net"
    source["Priority"] = "optional"
    source["Maintainer"] = MAINTAINER
    source["Build-Depends"] = ", ".join([
        f"debhelper-compat (= {DEBHELPER_COMPAT})", "dh-virtualenv (>= 1.2)", "python3", "python3-venv",
        f"{wheels_package_name(target.release)} (= {target.wheels_version})"])
    source["Standards-Version"] = STANDARDS_VERSION
    source["Rules-Requires-Root"] = "no"
    binary = Deb822()
    binary["Package"] = service.package_name
    binary["Architecture"] = "amd64"
    python = target.suite.python
    next_python = f"3.{int(python.split('.')[1]) + 1}"
    depends = ["${misc:Depends}", "${shlibs:Depends}", f"python{python}",
               f"python3 (>= {python})", f"python3 (<< {next_python})", "adduser",
               *service.runtime_packages]
    binary["Depends"] = ", ".join(depends)
    if service.conflicts:
        binary["Conflicts"] = ", ".join(service.conflicts)
        binary["Replaces"] = ", ".join(service.conflicts)
    binary["Description"] = (
        f"{service.summary} ({service.distribution} {target.upstream_version}) in a virtualenv\n"
        f" {service.distribution} {target.upstream_version} for OpenStack {target.release} and\n"
        f" every Python library it needs, hash-pinned, installed in /opt/venvs/{service.name}\n"
        f" from the openstack-wheels-{target.release} bundle. Upgrades independently of\n"
        f" other OpenStack services.")
    return f"{source}\n{binary}"


def changelog(service: Service, target: PackageTarget) -> str:
    log = Changelog()
    log.new_block(package=service.package_name, version=target.package_version(service),
                  distributions=target.suite.codename, urgency="medium", author=MAINTAINER,
                  date=formatdate(target.source_date_epoch, localtime=False, usegmt=False))
    log.add_change("")
    entry = (f"{service.distribution} {target.upstream_version} for OpenStack {target.release} "
             f"on {target.suite.codename}, from lock generation {target.lock_generation}.")
    # policy's 80 columns: long distribution names would overflow one line
    for number, line in enumerate(textwrap.wrap(entry, 76)):
        log.add_change(f"  {'*' if number == 0 else ' '} {line}")
    log.add_change("")
    return str(log)


def systemd_units(service: Service) -> dict[str, str]:
    """unit name -> unit file text, for WSGI apps and daemons."""
    units = {}
    for app in service.wsgi_apps:
        units[app.name] = render("wsgi.service", summary=service.summary, app=app.name,
                                 user=service.user, service=service.name)
    for unit, command in service.daemons.items():
        units[unit] = render("daemon.service", summary=service.summary, unit=unit,
                             user=service.user, service=service.name, command=command)
    return units


def finalize_config(service: Service) -> dict:
    """What finalize.py writes under /etc: the generated sample and static files."""
    etc = f"/etc/{service.name}"
    generated, files = [], {}
    for index, name in enumerate(service.config_files):
        if index == 0 and service.config_namespaces:
            generated.append({"path": f"{etc}/{name}", "namespaces": list(service.config_namespaces)})
        else:
            files[f"{etc}/{name}"] = (f"# {name} for {service.name}: see the upstream documentation "
                                      f"of {service.distribution} for its options.\n")
    for app in service.wsgi_apps:
        files[f"{etc}/uwsgi/{app.name}.ini"] = render(
            "uwsgi.ini", app=app.name, service=service.name, port=app.port, module=app.module)
    return {"generated_configs": generated, "files": files}


def _write(path: Path, text: str, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def render_source_tree(service: Service, target: PackageTarget, dest: Path) -> Path:
    """Write <dest>/<package>-<version>/debian/ and return the source directory."""
    pkg = service.package_name
    src = dest / f"{pkg}-{target.upstream_version}"
    debian = src / "debian"
    units = systemd_units(service)
    systemd_calls = "".join(f"\tdh_installsystemd --name={u} --no-enable --no-start\n" for u in units)
    config_paths = " ".join(f"/etc/{service.name}/{f}" for f in service.config_files)
    _write(debian / "control", control(service, target))
    _write(debian / "changelog", changelog(service, target))
    _write(debian / "source/format", "3.0 (quilt)\n")
    _write(debian / "rules", render("rules", package=pkg, service=service.name, release=target.release,
                                    python=target.suite.python, systemd_calls=systemd_calls or "\t:\n",
                                    compression=" ".join(target.compression)), executable=True)
    _write(debian / "copyright", render("copyright", distribution=service.distribution, package=pkg,
                                        version=target.upstream_version, release=target.release))
    _write(debian / f"{pkg}.postinst", render("postinst", user=service.user, service=service.name,
                                              config_paths=config_paths), executable=True)
    _write(debian / f"{pkg}.postrm", render("postrm", service=service.name), executable=True)
    _write(debian / f"{pkg}.logrotate", render("logrotate", service=service.name))
    _write(debian / f"{pkg}.lintian-overrides", render("lintian-overrides", package=pkg))
    _write(debian / f"{pkg}.links", "".join(
        f"opt/venvs/{service.name}/bin/{script} usr/bin/{script}\n" for script in service.console_scripts))
    for unit, text in units.items():
        _write(debian / f"{pkg}.{unit}.service", text)
    for script in service.console_scripts:
        _write(debian / f"stackdeb/man/{script}.1", render(
            "manpage", title=script.upper(), script=script, package=pkg, service=service.name,
            distribution=service.distribution, version=target.upstream_version, release=target.release))
    _write(debian / f"{pkg}.manpages", "".join(f"debian/stackdeb/man/{s}.1\n" for s in service.console_scripts))
    _write(debian / "stackdeb/requirements.txt", target.requirements)
    _write(debian / "stackdeb/finalize.json", json.dumps(finalize_config(service), indent=2, sort_keys=True))
    shutil.copy(TEMPLATES / "finalize.py", debian / "stackdeb/finalize.py")
    _write(debian / "stackdeb/uv-pip", render("uv-pip", release=target.release), executable=True)
    for path in [src, *src.rglob("*")]:
        os.utime(path, (target.source_date_epoch, target.source_date_epoch))
    return src


def templates_digest() -> dict[str, str]:
    """The templates and the code that renders them: a change to either rebuilds."""
    from builders.manifest import sha256_file
    digests = {p.name: sha256_file(p) for p in sorted(TEMPLATES.iterdir()) if p.is_file()}
    return digests | {"debian_dir.py": sha256_file(Path(__file__))}
