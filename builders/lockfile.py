"""The lock format: pip-tools' requirements.txt with hashes and split `# via` annotations, and
the one reader of a target's committed lock (`read_lock`).

Parsing gives each pin its hashes and the packages that pulled it in; from those edges each
service's closure (the subset of the lock it needs) follows without resolving again.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

from builders.errors import StackdebError
from builders.manifest import outputs_intact, read_json
from builders.outputs import using
from builders.project import Project
from builders.targets import Suite, get_suite

PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")
HASH_RE = re.compile(r"--hash=sha256:([0-9a-f]{64})")
INPUT_RE = re.compile(r"-r\s+(?:services|tools)/([a-z0-9-]+)\.in$")


@dataclass
class Pin:
    name: str                      # canonical name
    version: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)   # canonical names or "-r services/x.in"

    @property
    def line(self) -> str:
        return f"{self.name}=={self.version}"


def parse_lock(text: str, origin: str = "lock") -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if not raw[0].isspace() and not line.startswith("#"):
            match = PIN_RE.match(line)
            if not match:
                raise StackdebError(f"{origin} line {number}: malformed pin '{line}'")
            current = Pin(canonicalize_name(match.group(1)), match.group(3))
            pins[current.name] = current
            in_via = False
        elif current and line.startswith("--hash="):
            current.hashes.extend(HASH_RE.findall(line))
        elif current and line.startswith("# via"):
            rest = line[len("# via"):].strip()
            in_via = not rest
            if rest:
                current.via.append(_via_item(rest))
        elif current and in_via and line.startswith("#   "):
            current.via.append(_via_item(line[1:].strip()))
        else:
            in_via = False
    return pins


def _via_item(item: str) -> str:
    return item if item.startswith("-") else canonicalize_name(item)


def unhashed(pins: dict[str, Pin]) -> list[str]:
    return sorted(p.line for p in pins.values() if not p.hashes)


def closures(pins: dict[str, Pin], services: list[str]) -> dict[str, list[str]]:
    """For each service (or tool input), the sorted pins it needs: everything reachable from
    its input file."""
    children: dict[str, set[str]] = {}
    roots: dict[str, set[str]] = {s: set() for s in services}
    for pin in pins.values():
        for parent in pin.via:
            match = INPUT_RE.match(parent)
            if match and match.group(1) in roots:
                roots[match.group(1)].add(pin.name)
            elif not parent.startswith("-"):
                children.setdefault(parent, set()).add(pin.name)
    result = {}
    for service, start in roots.items():
        seen, todo = set(), list(start)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(children.get(name, ()))
        result[service] = sorted(pins[n].line for n in seen)
    return result


@dataclass
class Lock:
    """A target's committed lock, read whole and checked against its manifest."""
    release: str
    suite: Suite
    directory: Path
    manifest: dict
    pins: dict[str, Pin]
    closures: dict[str, list[str]]

    @property
    def build_id(self) -> str:
        return f"{self.suite.python_tag}-{self.suite.codename}"


def read_lock(project: Project, release: str, suite_name: str) -> Lock:
    suite = get_suite(suite_name)
    for manifest_path in sorted(project.root.glob(f"requirements-bundles/*/{suite_name}/manifest.json")):
        manifest = read_json(manifest_path) or {}
        if release in (manifest.get("release"), manifest.get("codename")):
            directory = manifest_path.parent
            with using(directory):       # the three files as one lock writes them
                manifest = read_json(directory / "manifest.json") or {}
                if not outputs_intact(directory, manifest.get("outputs", {})):
                    raise StackdebError(f"{directory}: lock.txt or closures.json is not what its manifest "
                                        "records (edited by hand, or from another lock)",
                                        hint=f"make it again: stackdeb lock --release {release} --suite {suite_name}")
                pins = parse_lock((directory / "lock.txt").read_text(), str(directory / "lock.txt"))
                closures = read_json(directory / "closures.json") or {}
            return Lock(manifest["release"], suite, directory, manifest, pins, closures)
    raise StackdebError(f"no lock for release '{release}' on {suite_name}",
                        hint=f"run: stackdeb lock --release {release} --suite {suite_name}")
