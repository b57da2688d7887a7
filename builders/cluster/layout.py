"""Cluster layouts: roles -> the services and Debian servers they run, and the hardware they
need (layouts/<name>.yaml). The run makes one VM per role of the role's size; the roles are
then given to the machines the inventory lists, by their reported hardware."""

from dataclasses import dataclass
from pathlib import Path

import yaml

from builders import PROJECT_DIR
from builders.catalog import Catalog
from builders.errors import StackdebError
from builders.yamlload import load_yaml

LAYOUTS = PROJECT_DIR / "layouts"
INFRASTRUCTURE = {"mariadb": ["mariadb-server"], "memcached": ["memcached"], "rabbitmq": ["rabbitmq-server"]}
HARDWARE_KEYS = {"memory_mb": 512, "cpus": 1, "disk_gb": 3}     # the least a node runs with


@dataclass(frozen=True)
class Role:
    name: str
    memory_mb: int
    cpus: int
    disk_gb: int
    infrastructure: tuple[str, ...]
    services: tuple[str, ...]

    def fits(self, report: dict) -> bool:
        disks = [d["size_bytes"] for d in report["disks"]]
        return (report["memory"]["total_bytes"] >= 0.85 * self.memory_mb * 2**20   # the kernel keeps some
                and report["cpu"]["count"] >= self.cpus
                and any(size >= self.disk_gb * 2**30 for size in disks))

    @property
    def debian_packages(self) -> list[str]:
        return [p for item in self.infrastructure for p in INFRASTRUCTURE[item]]


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    roles: tuple[Role, ...]
    source: Path

    def role_of(self, service: str) -> Role:
        return next(r for r in self.roles if service in r.services)

    def role_with(self, item: str) -> Role | None:
        return next((r for r in self.roles if item in r.infrastructure), None)

    @property
    def services(self) -> list[str]:
        return [s for r in self.roles for s in r.services]


def find_layout(spec: str) -> Path:
    """A layout by name (layouts/<name>.yaml) or by path."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or "/" in spec:
        if not path.is_file():
            raise StackdebError(f"layout file {spec} does not exist")
        return path
    path = LAYOUTS / f"{spec}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in LAYOUTS.glob("*.yaml")))
        raise StackdebError(f"unknown layout '{spec}'", hint=f"layouts: {known}, or the path of a YAML file")
    return path


def load_layout(spec: str, catalog: Catalog) -> Layout:
    path = find_layout(spec)
    try:
        data = load_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise StackdebError(f"layout {path} is not valid YAML: {exc}") from None
    where = f"layout {path.name}"
    if not isinstance(data, dict) or not isinstance(data.get("roles"), dict) or not data["roles"]:
        raise StackdebError(f"{where}: expected a mapping with 'roles' (role name -> hardware, "
                            "infrastructure, services)")
    roles = [_role(name, spec_, where, catalog) for name, spec_ in data["roles"].items()]
    seen: dict[str, str] = {}
    for role in roles:
        for item in [*role.services, *role.infrastructure]:
            if item in seen:
                raise StackdebError(f"{where}: {item} is in both roles {seen[item]} and {role.name}")
            seen[item] = role.name
    layout = Layout(path.stem, str(data.get("description", "")), tuple(roles), path)
    if layout.services and not layout.role_with("mariadb"):
        raise StackdebError(f"{where}: services need a database, and no role has mariadb")
    if "keystone" not in layout.services and layout.services:
        raise StackdebError(f"{where}: every service authenticates with keystone, and no role has it")
    return layout


def _role(name, spec, where: str, catalog: Catalog) -> Role:
    if not isinstance(name, str) or not name.replace("-", "").isalnum() or not isinstance(spec, dict):
        raise StackdebError(f"{where}: role {name!r} must be a name (letters, digits, -) with a mapping")
    unknown = set(spec) - {"hardware", "infrastructure", "services"}
    if unknown:
        raise StackdebError(f"{where}: role {name} has unknown keys: {', '.join(sorted(unknown))}")
    hardware = spec.get("hardware") or {}
    if not isinstance(hardware, dict) or set(hardware) - set(HARDWARE_KEYS):
        raise StackdebError(f"{where}: role {name}: hardware takes {', '.join(HARDWARE_KEYS)}")
    values = {}
    for key, least in HARDWARE_KEYS.items():
        value = hardware.get(key, least)
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise StackdebError(f"{where}: role {name}: hardware.{key} must be a whole number >= {least}")
        values[key] = value
    services = spec.get("services") or []
    infrastructure = spec.get("infrastructure") or []
    if not all(isinstance(x, list) and all(isinstance(i, str) for i in x) for x in (services, infrastructure)):
        raise StackdebError(f"{where}: role {name}: services and infrastructure are lists of names")
    for service in services:
        catalog.get(service)        # an unknown service is a clear error there
    bad = [i for i in infrastructure if i not in INFRASTRUCTURE]
    if bad:
        raise StackdebError(f"{where}: role {name}: unknown infrastructure {', '.join(map(str, bad))}",
                            hint=f"known: {', '.join(INFRASTRUCTURE)}")
    return Role(name, values["memory_mb"], values["cpus"], values["disk_gb"], tuple(infrastructure),
                tuple(services))


def assign_roles(layout: Layout, machines: list[dict]) -> dict[str, str]:
    """machine id -> role: the most demanding role first, each to the smallest machine that
    fits it. An error names the role no machine fits, and what was reported."""
    free = sorted(machines, key=lambda m: (m["report"]["memory"]["total_bytes"], m["report"]["cpu"]["count"]))
    given: dict[str, str] = {}
    for role in sorted(layout.roles, key=lambda r: (r.memory_mb, r.cpus, r.disk_gb), reverse=True):
        match = next((m for m in free if role.fits(m["report"])), None)
        if match is None:
            seen = "; ".join(f"{m['machine']}: {m['report']['memory']['total_bytes'] // 2**20} MiB, "
                             f"{m['report']['cpu']['count']} CPUs" for m in machines) or "none"
            raise StackdebError(f"no discovered machine fits role {role.name} ({role.memory_mb} MiB, "
                                f"{role.cpus} CPUs, a {role.disk_gb} GB disk); free machines: {seen}",
                                hint="give the layout's hardware needs that the machines can meet")
        free.remove(match)
        given[match["machine"]] = role.name
    return given
