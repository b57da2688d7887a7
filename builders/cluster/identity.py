"""Keystone's v3 API, as an operator uses it after bootstrap: a token, the service project,
a user per service with the admin role there, and the catalog's services and endpoints.
Calls are made from this process inside the cluster namespace (see run.py)."""

import json
import time
import urllib.error
import urllib.request

from builders.errors import StackdebError

TIMEOUT = 60


class Keystone:
    def __init__(self, url: str, password: str, user: str = "admin", project: str = "admin"):
        self.url = url.rstrip("/")
        self.token = self._token(user, password, project)

    def _token(self, user: str, password: str, project: str) -> str:
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        response, data = request("POST", f"{self.url}/auth/tokens", body)
        self.project_id = data["token"]["project"]["id"]
        return response.headers["X-Subject-Token"]

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        _, data = request(method, f"{self.url}{path}", body, {"X-Auth-Token": self.token})
        return data

    def find(self, collection: str, name: str) -> dict | None:
        found = self.call("GET", f"/{collection}?name={name}")[collection]
        return found[0] if found else None

    def ensure(self, collection: str, name: str, body: dict) -> dict:
        return self.find(collection, name) or self.call("POST", f"/{collection}", {collection[:-1]: body})[collection[:-1]]

    def register_service(self, service: str, service_type: str, password: str, url: str | None, region: str) -> None:
        """The service's user (admin in the service project), its catalog entry and endpoints
        (a service without an API, such as ceilometer's agents, has only its user)."""
        project = self.ensure("projects", "service", {"name": "service", "domain_id": "default"})
        user = self.ensure("users", service, {"name": service, "password": password, "domain_id": "default"})
        role = self.find("roles", "admin")
        self.call("PUT", f"/projects/{project['id']}/users/{user['id']}/roles/{role['id']}")
        if url is None:
            return
        entry = self.find("services", service) or self.call(
            "POST", "/services", {"service": {"name": service, "type": service_type}})["service"]
        existing = {e["interface"] for e in self.call("GET", f"/endpoints?service_id={entry['id']}")["endpoints"]}
        for interface in ("public", "internal", "admin"):
            if interface not in existing:
                self.call("POST", "/endpoints", {"endpoint": {"service_id": entry["id"], "interface": interface,
                                                              "url": url, "region_id": region}})

    def catalog(self) -> list[dict]:
        return self.call("GET", "/auth/catalog")["catalog"]


def request(method: str, url: str, body: dict | None = None, headers: dict | None = None,
            timeout: float = TIMEOUT, ok: tuple[int, ...] = ()):
    """(response, JSON body); an HTTP error status is a StackdebError unless it is in `ok`
    (a version document answers 300 Multiple Choices)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", "Accept": "application/json",
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            raw = response.read()
            return response, (json.loads(raw) if raw.strip() else {})
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        if exc.code in ok:
            return exc, (json.loads(raw) if raw.strip() else {})
        raise StackdebError(f"{method} {url}: HTTP {exc.code}: {raw.decode(errors='replace')[:300]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise StackdebError(f"{method} {url}: {getattr(exc, 'reason', exc)}") from None


def raw_request(method: str, url: str, data: bytes | None, headers: dict, timeout: float = TIMEOUT) -> bytes:
    """The body of a non-JSON request (an object, a secret's payload); an error status is a
    StackdebError."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise StackdebError(f"{method} {url}: HTTP {exc.code}: {exc.read().decode(errors='replace')[:300]}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise StackdebError(f"{method} {url}: {getattr(exc, 'reason', exc)}") from None


def wait_for_api(url: str, timeout: float) -> float:
    """Seconds until `url` answers HTTP at all (any status)."""
    started = time.monotonic()
    while True:
        try:
            urllib.request.urlopen(url, timeout=10).close()
            return time.monotonic() - started
        except urllib.error.HTTPError:
            return time.monotonic() - started
        except (urllib.error.URLError, OSError):
            if time.monotonic() - started > timeout:
                raise StackdebError(f"{url} did not answer within {timeout:.0f}s") from None
            time.sleep(2)
