"""The service catalog (packaging/services.yaml): load it, validate every entry, look up services.

Errors name the file, the entry and the field, so a typo is fixed in one look.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from packaging.requirements import InvalidRequirement, Requirement

from builders.errors import StackdebError
from builders.yamlload import load_yaml

NAME_RE = re.compile(r"^[a-z][a-z0-9-]*$")
MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DEB_PACKAGE_RE = re.compile(r"^[a-z0-9][a-z0-9.+-]+$")


@dataclass(frozen=True)
class WsgiApp:
    name: str
    module: str
    port: int


@dataclass(frozen=True)
class Service:
    name: str
    distribution: str
    deliverable: str
    summary: str
    import_name: str
    user: str
    extra_requirements: tuple[str, ...] = ()
    console_scripts: tuple[str, ...] = ()
    wsgi_apps: tuple[WsgiApp, ...] = ()
    daemons: dict[str, str] = field(default_factory=dict)
    config_files: tuple[str, ...] = ()
    config_namespaces: tuple[str, ...] = ()
    runtime_packages: tuple[str, ...] = ()
    build_packages: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    revision: int = 1        # Debian revision: bump when packaging changes without the lock

    @property
    def package_name(self) -> str:
        return f"venv-{self.name}"

    def requirement_lines(self, version: str) -> list[str]:
        """What the resolver is asked for on behalf of this service."""
        return [f"{self.distribution}=={version}", *self.extra_requirements]


REQUIRED = {"distribution", "deliverable", "summary", "import_name", "user"}
LIST_FIELDS = {"extra_requirements", "console_scripts", "config_files", "config_namespaces",
               "runtime_packages", "build_packages", "conflicts"}
MAP_FIELDS = {"wsgi_apps", "daemons"}
KNOWN = REQUIRED | LIST_FIELDS | MAP_FIELDS | {"revision"}


class Catalog:
    def __init__(self, services: dict[str, Service], path: Path):
        self.services = services
        self.path = path

    def __iter__(self):
        return iter(self.services.values())

    def __len__(self):
        return len(self.services)

    def get(self, name: str) -> Service:
        try:
            return self.services[name]
        except KeyError:
            raise StackdebError(
                f"unknown service '{name}'",
                hint=f"services in {self.path}: {', '.join(sorted(self.services))}",
            ) from None

    def select(self, names: list[str] | None) -> list[Service]:
        """The named services, or all of them when `names` is empty or None."""
        return [self.get(n) for n in names] if names else list(self)


class _Entry:
    """Checks one raw entry, raising errors that say where the problem is."""

    def __init__(self, path: Path, name: str, raw):
        self.where = f"{path}: service '{name}'"
        self.name = name
        if not isinstance(raw, dict):
            self.fail("the entry must be a mapping of fields")
        self.raw = raw

    def fail(self, message: str, fieldname: str | None = None):
        at = f", field '{fieldname}'" if fieldname else ""
        raise StackdebError(f"{self.where}{at}: {message}")

    def text(self, key: str, pattern: re.Pattern | None = None) -> str:
        value = self.raw.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail("must be a non-empty string", key)
        if pattern and not pattern.match(value):
            self.fail(f"'{value}' is not a valid value (expected {pattern.pattern})", key)
        return value

    def strings(self, key: str, pattern: re.Pattern | None = None) -> tuple[str, ...]:
        value = self.raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail("must be a list of strings", key)
        for item in value:
            if pattern and not pattern.match(item):
                self.fail(f"'{item}' is not a valid value (expected {pattern.pattern})", key)
        if len(set(value)) != len(value):
            self.fail("lists an item twice", key)
        return tuple(value)

    def mapping(self, key: str) -> dict:
        value = self.raw.get(key, {})
        if not isinstance(value, dict):
            self.fail("must be a mapping", key)
        return value


def _requirements(entry: _Entry) -> tuple[str, ...]:
    lines = entry.strings("extra_requirements")
    for line in lines:
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            entry.fail(f"'{line}' is not a valid requirement: {exc}", "extra_requirements")
    return lines


def _wsgi_apps(entry: _Entry) -> tuple[WsgiApp, ...]:
    apps = []
    for app_name, spec in entry.mapping("wsgi_apps").items():
        if not NAME_RE.match(str(app_name)) or not isinstance(spec, dict):
            entry.fail(f"'{app_name}' needs a valid name and a mapping {{module, port}}", "wsgi_apps")
        module, port = spec.get("module"), spec.get("port")
        if not isinstance(module, str) or not MODULE_RE.match(module):
            entry.fail(f"'{app_name}': module '{module}' is not a dotted module path", "wsgi_apps")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            entry.fail(f"'{app_name}': port '{port}' must be an integer 1-65535", "wsgi_apps")
        apps.append(WsgiApp(app_name, module, port))
    return tuple(apps)


def _daemons(entry: _Entry) -> dict[str, str]:
    daemons = entry.mapping("daemons")
    for unit, command in daemons.items():
        if not NAME_RE.match(str(unit)) or not isinstance(command, str) or not command.strip():
            entry.fail(f"'{unit}' needs a valid unit name and a command line", "daemons")
    return dict(daemons)


def _revision(entry: _Entry) -> int:
    value = entry.raw.get("revision", 1)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        entry.fail(f"'{value}' must be a positive integer", "revision")
    return value


def parse_service(path: Path, name: str, raw) -> Service:
    entry = _Entry(path, name, raw)
    if not NAME_RE.match(name):
        entry.fail(f"service names must match {NAME_RE.pattern}")
    unknown = set(entry.raw) - KNOWN
    if unknown:
        entry.fail(f"unknown field(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KNOWN))}")
    for key in sorted(REQUIRED - set(entry.raw)):
        entry.fail("is required", key)
    return Service(
        name=name,
        distribution=entry.text("distribution", re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")),
        deliverable=entry.text("deliverable", NAME_RE),
        summary=entry.text("summary"),
        import_name=entry.text("import_name", MODULE_RE),
        user=entry.text("user", NAME_RE),
        extra_requirements=_requirements(entry),
        console_scripts=entry.strings("console_scripts", FILE_RE),
        wsgi_apps=_wsgi_apps(entry),
        daemons=_daemons(entry),
        config_files=entry.strings("config_files", FILE_RE),
        config_namespaces=entry.strings("config_namespaces", re.compile(r"^[A-Za-z0-9._-]+$")),
        runtime_packages=entry.strings("runtime_packages", DEB_PACKAGE_RE),
        build_packages=entry.strings("build_packages", DEB_PACKAGE_RE),
        conflicts=entry.strings("conflicts", DEB_PACKAGE_RE),
        revision=_revision(entry),
    )


def _check_across(services: dict[str, Service], path: Path) -> None:
    """Ports and distributions must be unique across the catalog."""
    seen_ports: dict[int, str] = {}
    seen_dists: dict[str, str] = {}
    for svc in services.values():
        for app in svc.wsgi_apps:
            if app.port in seen_ports:
                raise StackdebError(f"{path}: service '{svc.name}', field 'wsgi_apps': port {app.port} "
                                    f"is already used by service '{seen_ports[app.port]}'")
            seen_ports[app.port] = svc.name
        dist = svc.distribution.lower().replace("_", "-").replace(".", "-")
        if dist in seen_dists:
            raise StackdebError(f"{path}: service '{svc.name}', field 'distribution': "
                                f"'{svc.distribution}' is already service '{seen_dists[dist]}'")
        seen_dists[dist] = svc.name


def load_catalog(path: Path) -> Catalog:
    try:
        raw = load_yaml(path.read_text())
    except FileNotFoundError:
        raise StackdebError(f"service catalog {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise StackdebError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not raw:
        raise StackdebError(f"{path}: the catalog must be a non-empty mapping of service entries")
    services = {str(name): parse_service(path, str(name), entry) for name, entry in raw.items()}
    _check_across(services, path)
    return Catalog(services, path)
