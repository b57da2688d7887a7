"""upper-constraints and the per-release overrides applied to it, each with its reason.

Overrides file (requirements-bundles/<release>/overrides.yaml):

    services:                      # pin a service to an older final release
      keystone: {version: 29.0.1, reason: why}
    constraints:
      - drop: NAME                 # remove NAME's constraint, let the resolver choose
        reason: why
      - pin: NAME==VERSION         # constrain NAME exactly (added if upstream has none)
        reason: why
      - replace: NAME              # swap upstream's constraint for another specifier
        with: NAME>=1,<2
        reason: why
"""

from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from builders.errors import StackdebError
from builders.yamlload import load_yaml


def parse_requirement(line: str, where: str) -> Requirement:
    try:
        return Requirement(line)
    except InvalidRequirement as exc:
        raise StackdebError(f"{where}: malformed requirement line '{line}': {exc}") from None


class Constraints:
    """Constraint lines grouped by canonical project name, in their original order."""

    def __init__(self, text: str, origin: str):
        self.lines: dict[str, list[str]] = {}
        seen: dict[tuple[str, str], int] = {}
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if line:
                req = parse_requirement(line, f"{origin} line {number}")
                name = canonicalize_name(req.name)
                # one project may have a line per environment marker, never two for the same one
                key = (name, str(req.marker or ""))
                if key in seen:
                    raise StackdebError(f"{origin} line {number}: {req.name} is constrained twice for the same "
                                        f"environment (line {seen[key]} too)",
                                        hint="upstream data must pin each project once; report it, or fix it "
                                             "with an override")
                seen[key] = number
                self.lines.setdefault(name, []).append(line)

    def __contains__(self, name: str) -> bool:
        return canonicalize_name(name) in self.lines

    def drop(self, name: str) -> None:
        del self.lines[canonicalize_name(name)]

    def set(self, name: str, line: str) -> None:
        self.lines[canonicalize_name(name)] = [line]

    def text(self) -> str:
        return "".join(line + "\n" for lines in self.lines.values() for line in lines)


@dataclass(frozen=True)
class Override:
    action: str         # drop, pin or replace
    name: str
    line: str | None    # the new constraint, None for drop
    reason: str

    def describe(self) -> str:
        change = self.name if self.action == "drop" else f"{self.name} -> {self.line}"
        return f"{self.action} {change}: {self.reason}"


@dataclass(frozen=True)
class ServicePin:
    service: str
    version: str
    reason: str


@dataclass(frozen=True)
class Overrides:
    constraints: tuple[Override, ...] = ()
    services: tuple[ServicePin, ...] = ()

    def service_version(self, service: str) -> str | None:
        return next((p.version for p in self.services if p.service == service), None)

    def apply(self, constraints: Constraints) -> list[str]:
        """Apply every constraint override in order; return one line per change for the report."""
        for override in self.constraints:
            present = override.name in constraints
            if override.action in ("drop", "replace") and not present:
                raise StackdebError(f"override '{override.describe()}' does not apply: "
                                    f"upper-constraints has no constraint for {override.name}",
                                    hint="remove the override or use 'pin' to add a constraint")
            if override.action == "drop":
                constraints.drop(override.name)
            else:
                constraints.set(override.name, override.line)
        return [o.describe() for o in self.constraints] + [
            f"service {p.service} pinned to {p.version}: {p.reason}" for p in self.services]


def _reason(entry: dict, where: str) -> str:
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise StackdebError(f"{where}: every override needs a written 'reason'")
    return reason.strip()


def _constraint_override(entry, where: str) -> Override:
    if not isinstance(entry, dict):
        raise StackdebError(f"{where}: must be a mapping with drop, pin or replace")
    actions = [a for a in ("drop", "pin", "replace") if a in entry]
    if len(actions) != 1:
        raise StackdebError(f"{where}: needs exactly one of drop, pin, replace")
    action, reason = actions[0], _reason(entry, where)
    unknown = set(entry) - {action, "with", "reason"}
    if unknown:
        raise StackdebError(f"{where}: unexpected field(s) {', '.join(sorted(unknown))}")
    if ("with" in entry) != (action == "replace"):
        raise StackdebError(f"{where}: 'with' goes with 'replace', and only with it")
    value = str(entry[action])
    if action == "drop":
        return Override("drop", canonicalize_name(value), None, reason)
    if action == "pin":
        req = parse_requirement(value, where)
        if len(req.specifier) != 1 or next(iter(req.specifier)).operator not in ("==", "==="):
            raise StackdebError(f"{where}: pin '{value}' must be NAME==VERSION")
        return Override("pin", canonicalize_name(req.name), value, reason)
    req = parse_requirement(str(entry["with"]), where)
    if canonicalize_name(req.name) != canonicalize_name(value):
        raise StackdebError(f"{where}: 'with: {entry['with']}' must constrain {value} itself")
    return Override("replace", canonicalize_name(value), str(entry["with"]), reason)


def _service_pins(raw, where: str) -> tuple[ServicePin, ...]:
    if not isinstance(raw, dict):
        raise StackdebError(f"{where}: must map service names to {{version, reason}}")
    pins = []
    for service, entry in raw.items():
        at = f"{where}.{service}"
        if not isinstance(entry, dict) or not entry.get("version"):
            raise StackdebError(f"{at}: needs a 'version' and a 'reason'")
        pins.append(ServicePin(str(service), str(entry["version"]), _reason(entry, at)))
    return tuple(pins)


def load_overrides(path: Path) -> Overrides:
    """The overrides file, or no overrides when it does not exist."""
    if not path.exists():
        return Overrides()
    try:
        raw = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise StackdebError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or set(raw) - {"constraints", "services"}:
        raise StackdebError(f"{path}: expected only 'constraints' and 'services' at the top level")
    entries = raw.get("constraints") or []
    if not isinstance(entries, list):
        raise StackdebError(f"{path}: 'constraints' must be a list")
    overrides = tuple(_constraint_override(e, f"{path}: constraints[{i}]") for i, e in enumerate(entries))
    names = [o.name for o in overrides]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise StackdebError(f"{path}: more than one override for {', '.join(duplicated)}")
    return Overrides(overrides, _service_pins(raw.get("services") or {}, f"{path}: services"))

