"""`stackdeb store serve`: the store on the master's machine, for the workers of master.yaml."""

from pathlib import Path

import yaml

from builders import log
from builders.errors import StackdebError
from builders.store.server import Store, make_server
from builders.yamlload import load_yaml


def workers_of(settings: Path) -> dict[str, str]:
    """The workers that may log in: name -> password, from master.yaml."""
    try:
        data = load_yaml(settings.read_text())
    except FileNotFoundError:
        raise StackdebError(f"{settings} does not exist", hint="--workers MASTER.YAML, or start the master first") from None
    except yaml.YAMLError as error:
        raise StackdebError(f"{settings} is not YAML: {str(error).splitlines()[0]}") from None
    workers = (data or {}).get("workers") if isinstance(data, dict) else None
    if not isinstance(workers, list) or not workers:
        raise StackdebError(f"{settings}: no workers listed, so nobody could use the store")
    found = {}
    for entry in workers:
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("password"):
            raise StackdebError(f"{settings}: each worker needs a name and a password")
        found[str(entry["name"])] = str(entry["password"])
    return found


def serve(root: Path, listen: str, settings: Path) -> None:
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise StackdebError(f"--listen {listen}: expected ADDRESS:PORT", hint="for example 127.0.0.1:8701")
    workers = workers_of(settings)
    try:
        server = make_server(Store(root, workers), host or "127.0.0.1", int(port))
    except OSError as exc:
        raise StackdebError(f"store: cannot listen on {listen}: {exc.strerror or exc}") from None
    log.info(f"store: serving {root} on http://{listen}/ to {len(workers)} workers ({', '.join(sorted(workers))})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
