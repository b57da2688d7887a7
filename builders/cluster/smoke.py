"""Smoke tests, run from outside the VMs against the API endpoints:

- Tempest (stackdeb's own environment) with tempest.conf generated from the deployed
  catalog: the smoke tests of every deployed service it covers;
- stackdeb's own checks where Tempest has none: an authenticated version request answered by
  every API, a placement resource provider created and listed, every unit active.

Each service has a floor of tests that must actually run (packaging/cluster-config.yaml,
smoke.floor): everything skipped never reads as a pass.
"""

import csv
import io
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from builders.cluster.identity import Keystone, raw_request, request
from builders.errors import StackdebError
from builders.tools import tempest

# Tempest's [service_available] keys, by catalog type; every one not deployed is set False.
TEMPEST_SERVICES = {"image": "glance", "compute": "nova", "network": "neutron", "volumev3": "cinder",
                    "object-store": "swift", "orchestration": "heat", "key-manager": "barbican"}


@dataclass
class TestResult:
    name: str
    service: str
    result: str          # passed | failed | skipped
    seconds: float
    source: str          # tempest | stackdeb
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def tempest_conf(identity_url: str, admin_password: str, catalog: list[dict], region: str, log_dir: Path,
                 areas: list[str] = ()) -> str:
    """tempest.conf for the deployed catalog. With neutron deployed, Tempest would give every
    test's credentials a network, subnet and router of their own; only the network and
    compute areas use them, and on a loaded emulated cluster each costs tens of seconds."""
    deployed = {entry["type"] for entry in catalog}
    available = "".join(f"{name} = {'true' if kind in deployed else 'false'}\n"
                        for kind, name in sorted(TEMPEST_SERVICES.items()))
    isolated_networks = "true" if {"network", "compute"} & set(areas) else "false"
    return (f"[DEFAULT]\nlog_dir = {log_dir}\nlog_file = tempest.log\n\n"
            "[auth]\nadmin_username = admin\n"
            f"admin_password = {admin_password}\nadmin_project_name = admin\n"
            "admin_domain_name = Default\nuse_dynamic_credentials = true\n"
            f"create_isolated_networks = {isolated_networks}\n\n"
            f"[identity]\nuri_v3 = {identity_url}\nauth_version = v3\nregion = {region}\n"
            "v3_endpoint_type = public\n\n"
            "[identity-feature-enabled]\napplication_credentials = true\n\n"
            f"[service_available]\n{available}\n"
            f"[image]\nregion = {region}\nendpoint_type = public\n\n"
            "[image-feature-enabled]\napi_v1 = false\nimport_image = false\n\n"
            "[validation]\nrun_validation = false\n")


def tempest_regex(kinds: list[str]) -> str:
    return rf"^tempest\.api\.({'|'.join(sorted(kinds))})\..*\[.*\bsmoke\b.*\]"


def parse_subunit_csv(text: str, services_by_kind: dict[str, str]) -> list[TestResult]:
    """subunit2csv rows -> results; a test's service from its module (tempest.api.<kind>)."""
    results = []
    for row in csv.DictReader(io.StringIO(text)):
        name = row.get("test", "")
        kind = name.split(".")[2] if name.startswith("tempest.api.") else ""
        status = {"success": "passed", "fail": "failed", "skip": "skipped"}.get(row.get("status", ""), "failed")
        try:
            seconds = (_time(row["stop_time"]) - _time(row["start_time"]))
        except (KeyError, ValueError):
            seconds = 0.0
        results.append(TestResult(name.split("[")[0], services_by_kind.get(kind, kind), status,
                                  round(seconds, 3), "tempest"))
    return results


def _time(value: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def run_tempest(workdir: Path, conf: str, kinds: list[str], services_by_kind: dict[str, str],
                prefix: list[str]) -> tuple[list[TestResult], Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    tempest.init(workdir)
    conf_path = workdir / "etc" / "tempest.conf"
    conf_path.write_text(conf)
    conf_path.chmod(0o600)
    subunit = tempest.run(workdir, tempest_regex(kinds), prefix, workdir / "tempest-run.log")
    (workdir / "tempest.subunit").write_bytes(subunit)
    results = parse_subunit_csv(tempest.subunit_to_csv(subunit), services_by_kind)
    summary = workdir / "results.txt"       # for people: one line per test, then the counts
    summary.write_text("".join(f"{r.result:8} {r.seconds:7.1f}s  {r.name}\n" for r in results) +
                       f"{sum(r.result == 'passed' for r in results)} passed, "
                       f"{sum(r.result == 'failed' for r in results)} failed, "
                       f"{sum(r.result == 'skipped' for r in results)} skipped\n")
    return results, summary


def timed(name: str, service: str, check) -> TestResult:
    started = time.monotonic()
    try:
        detail = check() or ""
        result = "passed"
    except StackdebError as exc:
        detail, result = str(exc), "failed"
    return TestResult(name, service, result, round(time.monotonic() - started, 3), "stackdeb", detail)


def version_check(keystone: Keystone, url: str):
    def check():
        response, _ = request("GET", url, headers={"X-Auth-Token": keystone.token}, ok=(300,))
        return f"HTTP {getattr(response, 'status', None) or response.code}"
    return check


def placement_check(keystone: Keystone, url: str):
    """A resource provider created, found by name, and deleted."""
    def check():
        headers = {"X-Auth-Token": keystone.token, "OpenStack-API-Version": "placement 1.20"}
        name = f"stackdeb-smoke-{uuid.uuid4().hex[:8]}"
        _, created = request("POST", f"{url}/resource_providers", {"name": name}, headers)
        _, listed = request("GET", f"{url}/resource_providers?name={name}", headers=headers)
        found = [rp["uuid"] for rp in listed["resource_providers"]]
        if found != [created["uuid"]]:
            raise StackdebError(f"resource provider {name} was created but listing by name gave {found}")
        request("DELETE", f"{url}/resource_providers/{created['uuid']}", headers=headers)
        return f"created, listed and deleted {name}"
    return check


def swift_check(keystone: Keystone, url: str):
    """A container made, an object put, read back byte for byte, and both deleted."""
    def check():
        base = url.replace("%(project_id)s", keystone.project_id).rstrip("/")
        headers = {"X-Auth-Token": keystone.token}
        container, payload = f"stackdeb-smoke-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex.encode()
        raw_request("PUT", f"{base}/{container}", b"", headers)
        raw_request("PUT", f"{base}/{container}/probe", payload, headers)
        read = raw_request("GET", f"{base}/{container}/probe", None, headers)
        if read != payload:
            raise StackdebError(f"object storage gave back {len(read)} bytes that differ from the {len(payload)} put")
        raw_request("DELETE", f"{base}/{container}/probe", None, headers)
        raw_request("DELETE", f"{base}/{container}", None, headers)
        return f"put, read back and deleted {container}/probe"
    return check


def barbican_check(keystone: Keystone, url: str):
    """A secret stored, its payload read back, and deleted."""
    def check():
        headers = {"X-Auth-Token": keystone.token}
        payload = uuid.uuid4().hex
        _, stored = request("POST", f"{url.rstrip('/')}/v1/secrets",
                            {"name": "stackdeb-smoke", "payload": payload, "payload_content_type": "text/plain"},
                            headers)
        secret = stored["secret_ref"].rsplit("/", 1)[-1]
        read = raw_request("GET", f"{url.rstrip('/')}/v1/secrets/{secret}/payload", None,
                           {**headers, "Accept": "text/plain"})
        if read.decode() != payload:
            raise StackdebError("the key manager gave back a payload that differs from the one stored")
        raw_request("DELETE", f"{url.rstrip('/')}/v1/secrets/{secret}", None, headers)
        return f"stored, read back and deleted secret {secret}"
    return check


# stackdeb's own functional checks, by service: name -> check(keystone, endpoint URL)
SERVICE_CHECKS = {
    "placement": {"resource_provider_create_list": placement_check},
    "swift": {"object_put_get": swift_check},
    "barbican": {"secret_store_get": barbican_check},
}


def floor_failures(results: list[TestResult], floors: dict[str, int]) -> list[str]:
    """Services whose tests that ran (passed or failed, not skipped) are fewer than their floor."""
    problems = []
    for service, floor in sorted(floors.items()):
        ran = sum(1 for r in results if r.service == service and r.result != "skipped")
        if ran < floor:
            problems.append(f"only {ran} tests ran for {service} (at least {floor} must)")
    return problems
