"""The tasks a node runs, rendered from the layout, the catalog and packaging/cluster-config.yaml.

Each task is a POSIX sh script run by the node agent as root with `sh -e`. Secrets reach the
node only inside a task's script (never on a command line, never in a log); task output is
what the node prints.
"""

import base64
import secrets
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from builders import PROJECT_DIR
from builders.catalog import Catalog
from builders.cluster.layout import Layout, Role
from builders.errors import StackdebError
from builders.yamlload import load_yaml

SERVICE_CONFIG = PROJECT_DIR / "packaging" / "cluster-config.yaml"
REGION = "RegionOne"


def load_recipes(path: Path = SERVICE_CONFIG) -> dict:
    return load_yaml(path.read_text()) or {}


def check_recipes(layout: Layout, recipes: dict) -> None:
    """Every service of the layout has a recipe (the needs map is checked when the recipes are
    read, builders/cluster/run.preflight)."""
    missing = [s for s in layout.services if s not in recipes]
    if missing:
        raise StackdebError(f"layout {layout.name}: no cluster recipe for {', '.join(missing)} in "
                            f"{SERVICE_CONFIG.name}: the cluster stage cannot configure them yet",
                            hint="add their configuration and setup steps there, or use a layout without them")


@dataclass
class Secrets:
    """Per-run passwords; written to the run directory with mode 0600, never logged."""
    values: dict = field(default_factory=dict)

    def get(self, name: str) -> str:
        if name not in self.values:
            self.values[name] = secrets.token_urlsafe(18)
        return self.values[name]


@dataclass
class ClusterContext:
    layout: Layout
    catalog: Catalog
    recipes: dict
    addresses: dict[str, str]        # role -> address
    server: str                      # the run's server address on the cluster network
    repo_url: str
    apt_proxy: str
    suite: str
    passwords: Secrets
    # how long a service's API may take to answer after its start: under TCG, nova's takes
    # about ten minutes to load beside its four daemons (the run gives its configure timeout)
    api_wait: int = 600
    # services installed from the tested suite, not staging (the `changed` layout's unchanged needs)
    from_tested: tuple[str, ...] = ()
    tested_suite: str = ""

    def address_of_service(self, service: str) -> str:
        return self.addresses[self.layout.role_of(service).name]

    def address_with(self, item: str) -> str:
        role = self.layout.role_with(item)
        return self.addresses[role.name] if role else ""

    def endpoint(self, service: str) -> str:
        """The URL registered in keystone's catalog (it may hold %(project_id)s and the like)."""
        spec = self.recipes[service]["endpoint"]
        return f"http://{self.address_of_service(service)}:{spec['port']}{spec['path']}"

    def version_url(self, service: str) -> str:
        """What the authenticated version request asks: the endpoint, or its own path."""
        spec = self.recipes[service]["endpoint"]
        return f"http://{self.address_of_service(service)}:{spec['port']}{spec.get('version', spec['path'])}"

    def values(self, service: str) -> dict[str, str]:
        """What a recipe's ${name} placeholders stand for, for one service."""
        return {"address": self.address_of_service(service), "database": self.address_with("mariadb"),
                "memcached": self.address_with("memcached"), "keystone": self.address_of_service("keystone"),
                "rabbitmq": self.address_with("rabbitmq"), "rabbit_password": self.passwords.get("rabbitmq"),
                "db_password": self.passwords.get(f"db-{service}"), "password": self.passwords.get(f"user-{service}"),
                "hash_suffix": self.passwords.get("swift-hash"),
                # a Fernet key: barbican's simple crypto plugin wraps the project keys with it
                "kek": self.passwords.values.setdefault(
                    "barbican-kek", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())}

    @property
    def identity_url(self) -> str:
        return self.endpoint("keystone")


def _heredoc(path: str, text: str, mode: str = "0644", owner: str = "root:root") -> str:
    user, group = owner.split(":")
    return (f"install -d {shlex.quote(str(Path(path).parent))}\n"
            f"cat > {shlex.quote(path)}.stackdeb <<'STACKDEB_EOF'\n{text}STACKDEB_EOF\n"
            f"install -m {mode} -o {user} -g {group} {shlex.quote(path)}.stackdeb {shlex.quote(path)}\n"
            f"rm -f {shlex.quote(path)}.stackdeb\n")


def render_ini(sections: dict[str, dict[str, str]]) -> str:
    return "".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()) + "\n"
                   for name, options in sections.items())


def prepare_task(ctx: ClusterContext, role: Role, hostname: str) -> str:
    """The apt proxy for Debian's packages, the generation under test as the only stackdeb
    source (its staging suite, and its tested suite when services come from there), and
    apt-get update of that source (which fails if a suite's signature does not verify).
    Debian's own indices are read only if the install needs them: the node image carries
    what a node installs from Debian (builders/images.node_debian_packages)."""
    host = ctx.server
    proxy = (f'Acquire::http::Proxy "{ctx.apt_proxy}";\n'
             f'Acquire::http::Proxy::{host} "DIRECT";\nAcquire::Retries "3";\n')
    suites = " ".join([ctx.suite, *([ctx.tested_suite] if ctx.from_tested else [])])
    sources = (f"Types: deb\nURIs: {ctx.repo_url}\nSuites: {suites}\nComponents: main\n"
               f"Signed-By: /usr/share/keyrings/stackdeb-archive-keyring.gpg\n")
    return ("hostnamectl set-hostname " + shlex.quote(hostname) + " 2>/dev/null || hostname " +
            shlex.quote(hostname) + "\n" +
            _heredoc("/etc/apt/apt.conf.d/01stackdeb-cluster", proxy) +
            # a machine that lives for one run: dpkg need not fsync each of the venvs' tens of
            # thousands of files (as sbuild and mmdebstrap do for their throwaway chroots)
            _heredoc("/etc/dpkg/dpkg.cfg.d/stackdeb-cluster", "force-unsafe-io\n") +
            _heredoc("/etc/apt/sources.list.d/stackdeb.sources", sources) +
            # only the stackdeb source: the image's Debian sources are read if the install needs them
            "only=$(mktemp -d)\ncp /etc/apt/sources.list.d/stackdeb.sources \"$only/\"\n"
            "apt-get update -q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=\"$only\" 2>&1 "
            "| tail -n 20 > /tmp/update.log\n"
            "cat /tmp/update.log\n"
            "if grep -q '^[EW]:' /tmp/update.log; then echo 'apt-get update reported errors'; exit 1; fi\n")


def install_task(ctx: ClusterContext, role: Role) -> str:
    """Debian's packages (in the node image; else through the proxy), each service's from staging, or from the tested
    suite (`venv-x/<tested suite>`: apt takes that suite's version) when it is there to run
    beside a changed one."""
    packages = role.debian_packages + [ctx.catalog.get(s).package_name
                                       + (f"/{ctx.tested_suite}" if s in ctx.from_tested else "")
                                       for s in role.services]
    return ("export DEBIAN_FRONTEND=noninteractive\n"
            f"install_packages() {{ apt-get install -y -q --no-install-recommends {' '.join(packages)} > /tmp/install.log 2>&1; }}\n"
            "if ! install_packages; then\n"
            # something the node image does not carry (a new runtime package, a newer library)
            "    echo 'apt: the node image lacks what these packages need; reading Debian'\\''s indices too:'\n"
            "    grep -E '^ (Depends|PreDepends):|^E:' /tmp/install.log | head -n 5 || true\n"
            "    apt-get update -q 2>&1 | tail -n 20 > /tmp/update.log\n"
            "    if grep -q '^[EW]:' /tmp/update.log; then cat /tmp/update.log; exit 1; fi\n"
            "    install_packages || { tail -n 40 /tmp/install.log; exit 1; }\n"
            "fi\n"
            "tail -n 5 /tmp/install.log\n"
            # what the verdict records as installed on this machine: dpkg's version, and the sha256
            # apt's signed index gives that version (the file apt fetched and checked)
            f"for p in {' '.join(ctx.catalog.get(s).package_name for s in role.services)}; do\n"
            "    v=$(dpkg-query -W -f='${Version}' \"$p\" 2>/dev/null) || continue\n"
            "    s=$(apt-cache show --no-all-versions \"$p=$v\" 2>/dev/null | sed -n 's/^SHA256: //p' | head -n 1)\n"
            "    echo \"installed $p $v $s\"\n"
            "done\n")


# The broker takes minutes to start under TCG: started without waiting on systemd, then
# waited for, then the user made once; a failure is the task's failure, never hidden.
RABBITMQ_USER = """\
systemctl enable rabbitmq-server >/dev/null 2>&1
systemctl start --no-block rabbitmq-server
ready=
for attempt in $(seq 1 60); do
    if rabbitmqctl -q await_startup >/dev/null 2>&1; then ready=1; break; fi
    sleep 5
done
[ -n "$ready" ] || { echo "rabbitmq: the broker did not start within 5 minutes" >&2; exit 1; }
if ! rabbitmqctl -q list_users | grep -q '^openstack[[:space:]]'; then
    rabbitmqctl add_user openstack "$RABBIT_PASSWORD" >/dev/null
fi
rabbitmqctl set_permissions openstack '.*' '.*' '.*' >/dev/null
echo 'rabbitmq: user openstack ready'
"""


def infrastructure_task(ctx: ClusterContext, role: Role) -> str:
    """Start what the role runs beside its services. The node image carries every
    infrastructure package with its units disabled (elements/stackdeb-node): enabled here."""
    script = ""
    if "mariadb" in role.infrastructure:
        script += _heredoc("/etc/mysql/mariadb.conf.d/99-stackdeb.cnf",
                           "[mysqld]\nbind-address = 0.0.0.0\nmax_connections = 500\n")
        script += "systemctl enable mariadb >/dev/null 2>&1\nsystemctl restart mariadb\n"
        sql = ""
        for service in ctx.layout.services:
            password = ctx.passwords.get(f"db-{service}")
            sql += f"CREATE USER IF NOT EXISTS '{service}'@'%' IDENTIFIED BY '{password}';\n"
            for database in databases(ctx.recipes[service], service):
                sql += (f"CREATE DATABASE IF NOT EXISTS {database};\n"
                        f"GRANT ALL PRIVILEGES ON {database}.* TO '{service}'@'%';\n")
        script += f"mysql <<'STACKDEB_SQL'\n{sql}FLUSH PRIVILEGES;\nSTACKDEB_SQL\necho 'mariadb: databases ready'\n"
    if "memcached" in role.infrastructure:
        script += ("sed -i 's/^-l .*/-l 0.0.0.0/' /etc/memcached.conf\n"
                   "systemctl enable memcached >/dev/null 2>&1\nsystemctl restart memcached\n"
                   "echo 'memcached: listening'\n")
    if "rabbitmq" in role.infrastructure:
        script += RABBITMQ_USER.replace("$RABBIT_PASSWORD", ctx.passwords.get("rabbitmq"))
    return script or "true\n"


def databases(recipe: dict, service: str) -> list[str]:
    """The MariaDB databases a service uses: its own name unless the recipe lists them (nova
    has three, swift none)."""
    return list(recipe.get("databases", [service]))


def started_units(catalog: Catalog, recipe: dict, service: str) -> list[str]:
    """The service's units the run starts: all it ships but those its recipe says cannot run
    here (`not_started`, each with its reason)."""
    svc = catalog.get(service)
    skipped = recipe.get("not_started") or {}
    return [u for u in [app.name for app in svc.wsgi_apps] + list(svc.daemons) if u not in skipped]


def service_task(ctx: ClusterContext, service: str) -> str:
    """The whole of a service's configuration: its setup, then its start."""
    return setup_task(ctx, service) + start_task(ctx, service)


def setup_task(ctx: ClusterContext, service: str) -> str:
    """Render the configuration and the recipe's other files and run the setup steps (the
    database schema): nothing here needs keystone, only MariaDB, so a service's setup runs
    while keystone is still being set up."""
    svc = ctx.catalog.get(service)
    recipe = ctx.recipes[service]
    values = ctx.values(service)
    sections = {name: {k: Template(str(v)).substitute(values) for k, v in (opts or {}).items()}
                for name, opts in recipe["config"].get("options", {}).items()}
    if recipe["config"].get("keystone_authtoken"):
        sections["keystone_authtoken"] = {
            "www_authenticate_uri": ctx.identity_url, "auth_url": ctx.identity_url,
            "memcached_servers": f"{values['memcached']}:11211" if values["memcached"] else "",
            "auth_type": "password", "project_domain_name": "Default", "user_domain_name": "Default",
            "project_name": "service", "username": service, "password": values["password"],
            "region_name": REGION}
    if recipe["config"].get("cache") and values["memcached"]:
        # oslo.cache in the layout's memcached: keystone then validates a token without
        # reading the database each time (DevStack runs it so; without a memcached, no cache)
        sections["cache"] = {"enabled": "true", "backend": "oslo_cache.memcache_pool",
                             "memcache_servers": f"{values['memcached']}:11211"}
    script = _heredoc(recipe["config"]["file"], render_ini(sections), "0640", f"root:{svc.user}")
    for path, text in (recipe.get("files") or {}).items():
        script += _heredoc(path, Template(text).substitute(values), "0640", f"root:{svc.user}")
    if service == "keystone":
        script += f"export OS_BOOTSTRAP_PASSWORD={shlex.quote(ctx.passwords.get('admin'))}\n"
    for step in recipe.get("setup", []):
        script += Template(step).safe_substitute(values) + "\n"
    return script


def start_task(ctx: ClusterContext, service: str) -> str:
    """Start the packaged units and wait until the API answers on its port (or, for a service
    without an API, until its units have stayed up)."""
    recipe = ctx.recipes[service]
    script = ""
    units = [f"{u}.service" for u in started_units(ctx.catalog, recipe, service)]
    skipped = [f"{u}.service" for u in recipe.get("not_started") or {}]
    if skipped:      # they cannot run on this cluster: off, whatever enabled them
        script += f"systemctl disable --now {' '.join(skipped)} >/dev/null 2>&1 || true\n"
    if units:
        script += f"systemctl enable {' '.join(units)} >/dev/null 2>&1\nsystemctl restart {' '.join(units)}\n"
    if recipe.get("endpoint"):
        port = recipe["endpoint"]["port"]
        script += API_WAIT.format(service=service, port=port, units=" ".join(units), logs=f"/var/log/{service}/*.log",
                                  wait=ctx.api_wait)
    else:
        script += UNITS_WAIT.format(service=service, units=" ".join(units), logs=f"/var/log/{service}/*.log")
    return script


# Until the API answers HTTP (any status), for ctx.api_wait seconds at most; a unit that failed, or that
# systemd had to restart 3 times (it dies at start: waiting is pointless), ends it at once.
# Then what systemd and the service's own log say.
API_WAIT = """\
end=$(( $(date +%s) + {wait} ))
until code=$(curl -s -o /dev/null --max-time 15 -w '%{{http_code}}' http://127.0.0.1:{port}/) && [ "$code" != 000 ]; do
    why=""
    for unit in {units}; do
        if systemctl is-failed --quiet "$unit"; then why="$unit failed"; fi
        restarts=$(systemctl show -p NRestarts --value "$unit" 2>/dev/null || echo 0)
        if [ "${{restarts:-0}}" -ge 3 ]; then why="$unit died at start $restarts times"; fi
    done
    if [ -z "$why" ] && [ "$(date +%s)" -ge "$end" ]; then why="nothing answers HTTP on port {port} after {wait}s"; fi
    if [ -n "$why" ]; then
        echo "{service}: $why"
        systemctl status --no-pager --lines=20 {units} || true
        tail -n 40 {logs} 2>/dev/null || true
        exit 1
    fi
    sleep 3
done
echo "{service}: port {port} answers HTTP $code"
"""


# A service without an API: its units must still be up 30 s after the start, with no restart
# in between (a daemon that dies on a bad configuration is gone by then, or restarting).
UNITS_WAIT = """\
restarts() {{ systemctl show -p NRestarts --value "$1" 2>/dev/null || echo 0; }}
before=""
for unit in {units}; do before="$before $(restarts "$unit")"; done
sleep 30
set -- $before
for unit in {units}; do
    if ! systemctl is-active --quiet "$unit" || [ "$(restarts "$unit")" != "$1" ]; then
        echo "{service}: $unit is not running steadily ($(systemctl is-active "$unit"), restarted)"
        systemctl status --no-pager --lines=20 {units} || true
        tail -n 40 {logs} 2>/dev/null || true
        exit 1
    fi
    shift
done
echo "{service}: {units} running"
"""


def units_of(catalog: Catalog, role: Role, recipes: dict) -> list[str]:
    units = [{"mariadb": "mariadb", "memcached": "memcached", "rabbitmq": "rabbitmq-server"}[i]
             for i in role.infrastructure]
    for service in role.services:
        units += started_units(catalog, recipes[service], service)
    return units


def units_task(units: list[str]) -> str:
    """Prints 'unit <name> <state>' for each, and 'memory <total MiB> <used MiB>' for the
    machine (used: total less what the kernel counts as available)."""
    return ("awk '/^MemTotal:/ {t=$2} /^MemAvailable:/ {a=$2} END {printf \"memory %d %d\\n\", t/1024, (t-a)/1024}' "
            "/proc/meminfo\nrc=0\n" + "".join(f"state=$(systemctl is-active {u}.service || true); echo \"unit {u} $state\"; "
                               f"[ \"$state\" = active ] || rc=1\n" for u in units) + "exit $rc\n")


def logs_task(catalog: Catalog, role: Role, recipes: dict) -> str:
    """Every unit's journal and every service log, for the verdict's logs."""
    script = ""
    for unit in units_of(catalog, role, recipes):
        script += f"echo '===== journal: {unit}'; journalctl -u {unit}.service --no-pager -o short-iso -n 400 || true\n"
    for service in role.services:
        script += (f"for f in /var/log/{service}/*.log; do [ -e \"$f\" ] || continue; "
                   f"echo \"===== $f\"; tail -n 400 \"$f\"; done\n")
    return script or "true\n"
