"""Which services a service needs beside it (packaging/cluster-config.yaml, `needs:` per recipe):
nova needs keystone, placement, glance and neutron; glance needs keystone. A service is proven
only together with the versions of the services it needs that ran beside it, so promotion
keeps a covered service only when each service it needs ran in the same run at a version the
tested suite will hold: the one promoted with it, or the one already there."""

from builders.errors import StackdebError
from builders.cluster.verdict import VENV_PREFIX


def service_needs(recipes: dict, where: str) -> dict[str, list[str]]:
    """The needs map of the recipes, checked: a list of services with recipes, and no cycle."""
    if not isinstance(recipes, dict):
        raise StackdebError(f"{where}: expected a mapping of services to their recipes")
    needs = {}
    for service, recipe in recipes.items():
        if recipe is not None and not isinstance(recipe, dict):
            raise StackdebError(f"{where}: {str(service)[:60]!r}: a recipe is a mapping, not {type(recipe).__name__}")
        named = (recipe or {}).get("needs", [])
        if not isinstance(named, list) or not all(isinstance(n, str) for n in named):
            raise StackdebError(f"{where}: {service}: 'needs' must be a list of service names")
        unknown = sorted(set(named) - set(recipes))
        if unknown:
            raise StackdebError(f"{where}: {service} needs {', '.join(unknown)}, which has no recipe there",
                                hint="name services of the same file")
        needs[service] = list(named)
    cycle = _a_cycle(needs)
    if cycle:
        raise StackdebError(f"{where}: the services' needs go round in a circle: {' -> '.join(cycle)}",
                            hint="a service cannot need, even through others, a service that needs it")
    return needs


def _a_cycle(needs: dict[str, list[str]]) -> list[str] | None:
    """One cycle of the map (its services in order, the first repeated at the end), or None."""
    state: dict[str, str] = {}     # visiting or done

    def visit(service: str, path: list[str]) -> list[str] | None:
        if state.get(service) == "visiting":
            return path[path.index(service):] + [service]
        if state.get(service) == "done":
            return None
        state[service] = "visiting"
        for needed in needs.get(service, []):
            found = visit(needed, path + [service])
            if found:
                return found
        state[service] = "done"
        return None

    for service in sorted(needs):
        found = visit(service, [])
        if found:
            return found
    return None


def with_their_needs(covered: list[dict], verdict: dict, needs: dict[str, list[str]],
                     tested: dict[str, str]) -> tuple[list[dict], dict[str, str]]:
    """The covered packages whose needed services ran beside them at a version the tested suite
    will hold (promoted with them, or `tested` already), and why each other one is left out.
    Leaving one out can leave out those that need it: repeated until nothing changes."""
    ran: dict[str, set[str]] = {}
    for machine in verdict.get("machines") or []:
        for name, version in (machine.get("installed") or {}).items():
            ran.setdefault(name, set()).add(version)
    kept = {p["name"]: p for p in covered}
    dropped: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for name in sorted(kept):
            why = _unmet(name.removeprefix(VENV_PREFIX), needs, ran, kept, tested)
            if why:
                dropped[name] = why
                del kept[name]
                changed = True
    return [p for p in covered if p["name"] in kept], dropped


def _unmet(service: str, needs: dict[str, list[str]], ran: dict[str, set[str]], kept: dict[str, dict],
           tested: dict[str, str]) -> str | None:
    for needed in needs.get(service, []):
        package = VENV_PREFIX + needed
        versions = ran.get(package, set())
        if not versions:
            return f"needs {needed}, which this run did not install"
        held = {kept[package]["version"]} if package in kept else {tested.get(package)} - {None}
        if not versions <= held:
            return (f"needs {needed}, which ran at {', '.join(sorted(versions))}: neither promoted with it "
                    f"nor the tested version{' (' + ', '.join(held) + ')' if held else ''}")
    return None
