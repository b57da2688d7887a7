"""The verdict: what a cluster run proved, about exactly which build set, signed by the cluster
stage so that promotion can trust it.

    verdict.json       result, target, build set (generation, InRelease sha256, every package's
                       name, version and sha256), layout, machines, phases, tests, Tempest's
                       counts, the failure (machine, phase, log) and where the logs are
    verdict.json.asc   a detached gpg signature by the cluster key

The cluster key lives in $STACKDEB_VERDICT_HOME (a GnuPG home), by default
<build>/cluster/gnupg, created on first use; its public key is exported beside it as
verdict-keyring.gpg, which `stackdeb promote` trusts by default ($STACKDEB_VERDICT_KEYRING
names another).
"""

import os
from pathlib import Path

from builders.errors import StackdebError
from builders.manifest import read_json, write_json
from builders.tools import gpg

FORMAT = 1
KEY_NAME = "stackdeb cluster verdicts <cluster@stackdeb.invalid>"


def verdict_home(build_dir: Path) -> Path:
    return Path(os.environ.get("STACKDEB_VERDICT_HOME") or build_dir / "cluster" / "gnupg")


def verdict_keyring(build_dir: Path) -> Path:
    return Path(os.environ.get("STACKDEB_VERDICT_KEYRING") or build_dir / "cluster" / "verdict-keyring.gpg")


def signature_of(path: Path) -> Path:
    return path.with_name(path.name + ".asc")


def write_signed(verdict: dict, path: Path, build_dir: Path) -> None:
    home = verdict_home(build_dir)
    key = gpg.ensure_key(home, KEY_NAME)
    keyring = verdict_keyring(build_dir)
    if not os.environ.get("STACKDEB_VERDICT_KEYRING"):
        keyring.parent.mkdir(parents=True, exist_ok=True)
        gpg.export_public(home, key, keyring)
    write_json(path, {"format": FORMAT, **verdict})
    gpg.detach_sign(home, key, path, signature_of(path))


def read_verified(path: Path, keyring: Path) -> dict:
    """The verdict, only when its signature verifies against `keyring`."""
    if not path.is_file():
        raise StackdebError(f"verdict {path} does not exist")
    signature = signature_of(path)
    if not signature.is_file():
        raise StackdebError(f"verdict {path} has no signature ({signature.name})",
                            hint="only a verdict written by `stackdeb cluster` is accepted")
    if not keyring.is_file():
        raise StackdebError(f"the verdict keyring {keyring} does not exist",
                            hint="run `stackdeb cluster` once, or set STACKDEB_VERDICT_KEYRING")
    if not gpg.verify_detached(keyring, signature, path):
        raise StackdebError(f"verdict {path}: the signature does not verify against {keyring}",
                            hint="only a verdict written and signed by the cluster stage is accepted")
    verdict = read_json(path)
    if not isinstance(verdict, dict) or verdict.get("format") != FORMAT:
        raise StackdebError(f"verdict {path} is not a stackdeb verdict (format {FORMAT})")
    return check_shape(verdict, str(path))


VENV_PREFIX = "venv-"


def _strings(value) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def shape_problem(verdict) -> str | None:
    """What is not as the cluster stage writes it, in the parts promotion and the status read,
    or None: a verdict is read only once its shape is known."""
    if not isinstance(verdict, dict):
        return "not a JSON object"
    build_set = verdict.get("build_set") or {}
    packages = build_set.get("packages") if isinstance(build_set, dict) else None
    if not isinstance(packages, list) or not all(
            isinstance(p, dict) and all(isinstance(p.get(k), str) for k in ("name", "version", "sha256"))
            for p in packages):
        return "build_set.packages is not a list of packages with name, version and sha256"
    machines = verdict.get("machines") or []
    if not isinstance(machines, list) or not all(
            isinstance(m, dict) and _strings(m.get("installed") or {}) and _strings(m.get("installed_sha256") or {})
            for m in machines):
        return "machines is not a list of machines with installed packages and versions"
    tests = verdict.get("tests") or []
    if not isinstance(tests, list) or not all(
            isinstance(t, dict) and isinstance(t.get("result"), str) and isinstance(t.get("service"), (str, type(None)))
            for t in tests):
        return "tests is not a list of tests with a service and a result"
    if not isinstance(verdict.get("failure"), (dict, type(None))):
        return "failure is neither an object nor null"
    return None


def check_shape(verdict, where: str) -> dict:
    problem = shape_problem(verdict)
    if problem:
        raise StackdebError(f"verdict {where}: {problem}", hint="only a verdict written by `stackdeb cluster` is read")
    return verdict


def coverage(verdict: dict) -> tuple[list[dict], dict[str, str]]:
    """What a verdict proved of its build set's venv packages: those some machine installed at
    exactly the build set's version and sha256 (as the machine's apt reported it) and whose
    service passed a test and failed none (the package entries), and for every other one why it
    is not covered. Only the machines' and tests' records count, never what the verdict says of
    itself."""
    check_shape(verdict, "")
    installed: dict[str, set[tuple[str, str]]] = {}
    for machine in verdict.get("machines") or []:
        digests = machine.get("installed_sha256") or {}
        for name, version in (machine.get("installed") or {}).items():
            installed.setdefault(name, set()).add((version, digests.get(name) or ""))
    results: dict[str, set[str]] = {}
    for test in verdict.get("tests") or []:
        results.setdefault(test.get("service"), set()).add(test.get("result"))
    covered, not_covered = [], {}
    for package in (verdict.get("build_set") or {}).get("packages") or []:
        name = package["name"]
        if not name.startswith(VENV_PREFIX):
            continue
        ran = results.get(name.removeprefix(VENV_PREFIX), set())
        found = installed.get(name, set())
        versions = {version for version, _ in found}
        if not found:
            not_covered[name] = "no machine installed it"
        elif versions != {package["version"]}:
            others = ", ".join(sorted(versions - {package["version"]}))
            not_covered[name] = f"installed at {others}, not at the build set's {package['version']}"
        elif {digest for _, digest in found} != {package["sha256"]}:
            not_covered[name] = "apt installed other bytes than the build set's (sha256 differs or unknown)"
        elif "failed" in ran:
            not_covered[name] = "a test of it failed"
        elif "passed" not in ran:
            not_covered[name] = "installed, but no test of it passed"
        else:
            covered.append(package)
    return covered, not_covered


def disagreements(verdict: dict) -> list[str]:
    """The venv packages a machine installed at another version or with other bytes than the
    build set's own entry for that name: a verdict like that does not describe its build set,
    and promotes nothing. (A package the build set does not hold is no disagreement: it came
    from the tested suite to run beside a changed one.)"""
    check_shape(verdict, "")
    named = {p["name"]: (p["version"], p["sha256"]) for p in (verdict.get("build_set") or {}).get("packages") or []}
    found = []
    for machine in verdict.get("machines") or []:
        digests = machine.get("installed_sha256") or {}
        for name, version in sorted((machine.get("installed") or {}).items()):
            if name in named and (version, digests.get(name) or "") != named[name]:
                found.append(f"{machine.get('name')} installed {name} {version}"
                             f"{'' if version != named[name][0] else ' with other bytes'}, "
                             f"the build set has {named[name][0]}")
    return found
