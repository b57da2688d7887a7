"""What a cluster run tests by default (`--layout changed`): the services whose package in
staging differs from the tested suite's, with every service they need (packaging/
cluster-config.yaml `needs:`). The changed ones are installed from staging, the ones they need
and that did not change from the tested suite: they run beside the exact versions already
proven, as DLRN tests a component with the others' last promoted builds. The layout is derived
from that set: one machine while it fits, else the `full` layout's roles, each keeping only
the chosen services. A change to every service gives the full catalog; no change, no run."""

import json
from dataclasses import dataclass
from pathlib import Path

from builders.catalog import Catalog
from builders.cluster.layout import LAYOUTS, Layout, Role, load_layout
from builders.cluster.verdict import VENV_PREFIX
from builders.errors import StackdebError

CHANGED = "changed"         # the layout name that asks for this selection
ONE_MACHINE_MB = 4096        # a derived layout stays on one machine up to this estimate
BASE_MB = 512                # Debian, systemd, the task runner
INFRASTRUCTURE_MB = {"mariadb": 384, "memcached": 64, "rabbitmq": 384}
SERVICE_MB = 512             # a service's processes, unless its recipe says `memory_mb`


class NothingToTest(StackdebError):
    """Staging holds exactly what the tested suite holds: there is nothing new to prove."""


@dataclass(frozen=True)
class ChangeSet:
    changed: tuple[str, ...]        # services whose staging package differs from the tested one
    needed: tuple[str, ...]         # services they need, unchanged: installed from the tested suite

    @property
    def services(self) -> tuple[str, ...]:
        return self.changed + self.needed

    def as_dict(self) -> dict:
        return {"changed": list(self.changed), "from_tested": list(self.needed)}


def package_of(service: str) -> str:
    return VENV_PREFIX + service


def changed_services(staged: list[dict], tested: list[dict], needs: dict[str, list[str]]) -> ChangeSet:
    """The services (with a cluster recipe: the keys of `needs`) whose staged package is not
    byte for byte the tested one, and those they need, transitively. A needed service that did
    not change must be in the tested suite; one in neither suite cannot be installed at all."""
    in_tested = {p["name"]: (p["version"], p["sha256"]) for p in tested}
    in_staging = {p["name"]: (p["version"], p["sha256"]) for p in staged}
    changed = sorted(s for s in needs if package_of(s) in in_staging
                     and in_staging[package_of(s)] != in_tested.get(package_of(s)))
    if not changed:
        raise NothingToTest("nothing changed: every service in staging is the one the tested suite holds",
                            hint="nothing to test; publish a new build set, or name a layout to test again")
    wanted, queue = set(changed), list(changed)
    while queue:
        for needed in needs[queue.pop()]:
            if needed not in wanted:
                wanted.add(needed)
                queue.append(needed)
    needed = sorted(wanted - set(changed))
    missing = [s for s in needed if package_of(s) not in in_tested]
    if missing:
        users = sorted(s for s in changed if set(needs[s]) & set(missing))
        raise StackdebError(f"{', '.join(users) or 'the changed services'} need {', '.join(missing)}, which "
                            "neither staging nor the tested suite holds",
                            hint="build and publish them too, or name a layout")
    return ChangeSet(tuple(changed), tuple(needed))


def estimate_mb(services: list[str], infrastructure: list[str], recipes: dict) -> int:
    """A machine's memory for these: a base, each Debian server and each service, rounded up
    to 256 MiB."""
    total = BASE_MB + sum(INFRASTRUCTURE_MB[i] for i in infrastructure) + sum(
        _memory_of(s, recipes) for s in services)
    return -(-total // 256) * 256


def _memory_of(service: str, recipes: dict) -> int:
    value = (recipes.get(service) or {}).get("memory_mb", SERVICE_MB)
    if not isinstance(value, int) or isinstance(value, bool) or not 64 <= value <= 65536:
        raise StackdebError(f"cluster-config.yaml: {service}: memory_mb must be a whole number of MiB "
                            f"(64 to 65536), not {str(value)[:40]!r}")
    return value


def infrastructure_for(services: list[str], recipes: dict) -> list[str]:
    """MariaDB and memcached always (every service keeps its state in one and its tokens in the
    other); RabbitMQ when a chosen service's configuration names it."""
    messaging = any("${rabbitmq}" in str(recipes.get(s)) for s in services)
    return ["mariadb", "memcached", *(["rabbitmq"] if messaging else [])]


def derive_layout(changes: ChangeSet, recipes: dict, catalog: Catalog, reference: str = "full") -> Layout:
    """The smallest layout that runs the change set: one machine while the estimate fits
    ONE_MACHINE_MB, else the reference layout's roles with only the chosen services (a role
    that keeps all of its services keeps its hardware, which a run proved enough)."""
    chosen = [svc.name for svc in catalog if svc.name in changes.services]     # the catalog's order
    infrastructure = infrastructure_for(chosen, recipes)
    description = (f"derived: {', '.join(changes.changed)} changed"
                   + (f", beside {', '.join(changes.needed)} from the tested suite" if changes.needed else ""))
    estimate = estimate_mb(chosen, infrastructure, recipes)
    if estimate <= ONE_MACHINE_MB:
        role = Role("node", estimate, 2, max(6, 4 + len(chosen)), tuple(infrastructure), tuple(chosen))
        return Layout(CHANGED, description, (role,), Path(CHANGED))
    full = load_layout(str(LAYOUTS / f"{reference}.yaml"), catalog)
    roles = []
    for index, role in enumerate(full.roles):
        services = [s for s in role.services if s in chosen]
        own = infrastructure if index == 0 else []       # the first role holds the servers
        if not services and not own:
            continue
        memory = role.memory_mb if len(services) == len(role.services) else \
            min(role.memory_mb, estimate_mb(services, own, recipes))
        roles.append(Role(role.name, memory, role.cpus, role.disk_gb, tuple(own), tuple(services)))
    left = set(chosen) - {s for r in roles for s in r.services}
    if left:
        raise StackdebError(f"layout {reference} places no role for {', '.join(sorted(left))}",
                            hint=f"add them to layouts/{reference}.yaml")
    return Layout(CHANGED, description, tuple(roles), Path(CHANGED))


def layout_yaml(layout: Layout) -> str:
    """A derived layout as a layout file: the run keeps it, and `--layout FILE` runs it again."""
    lines = [f"description: {json.dumps(layout.description)}", "roles:"]
    for role in layout.roles:
        lines += [f"  {role.name}:",
                  f"    hardware: {{memory_mb: {role.memory_mb}, cpus: {role.cpus}, disk_gb: {role.disk_gb}}}",
                  f"    infrastructure: [{', '.join(role.infrastructure)}]",
                  f"    services: [{', '.join(role.services)}]"]
    return "\n".join(lines) + "\n"
