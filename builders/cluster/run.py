"""One cluster run for a target: phase by phase, then a signed verdict, then a teardown that
always happens (failure, error or interrupt alike).

    network    namespace, bridge, dnsmasq, the run's servers, apt-cacher-ng
    boot       every VM network-boots the discovery live system
    report     every agent has reported to the run's inventory
    assign     roles from the layout, matched to the reported hardware
    image      the node image written to each disk (stackdeb as BMC), the node booted, the
               staging generation under test verified by apt on it
    install    the role's packages with apt: venv-* from staging, Debian's through the proxy
    configure  databases, keystone bootstrap, service users and endpoints, each service
    smoke      units active, version requests, stackdeb's checks, Tempest
"""

import json
import os
import secrets as random
import signal
import socket
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from builders import log, tools
from builders.cluster import configure, network as net, smoke
from builders.cluster.identity import Keystone, wait_for_api
from builders.cluster.changeset import CHANGED, ChangeSet, changed_services, derive_layout, layout_yaml
from builders.cluster.layout import Layout, assign_roles, load_layout
from builders.cluster.needs import service_needs
from builders.cluster.machines import Machine
from builders.cluster.services import TaskBoard, start_servers
from builders.cluster.verdict import coverage, write_signed
from builders.errors import StackdebError
from builders.images import image_problems
from builders.inventory import Inventory
from builders.outputs import using
from builders.project import Project
from builders.repository.generations import export_generation, live_suites
from builders.targets import Target, get_suite
from builders.tools import aptcacherng, qemu

DEFAULT_TIMEOUTS = {"report": 900, "node": 900, "install": 1800, "configure": 900, "logs": 180}


def timeouts() -> dict[str, float]:
    """DEFAULT_TIMEOUTS, with overrides from $STACKDEB_CLUSTER_TIMEOUTS ("report=300,install=900")."""
    found = dict(DEFAULT_TIMEOUTS)
    for item in filter(None, os.environ.get("STACKDEB_CLUSTER_TIMEOUTS", "").split(",")):
        key, _, value = item.partition("=")
        if key.strip() not in DEFAULT_TIMEOUTS or not value.strip().isdigit():
            raise StackdebError(f"STACKDEB_CLUSTER_TIMEOUTS: '{item}' is not <phase>=<seconds>",
                                hint=f"phases: {', '.join(DEFAULT_TIMEOUTS)}")
        found[key.strip()] = float(value)
    return found
REQUIRED_TOOLS = ["qemu-system-x86_64", "qemu-img", "e2fsck", "resize2fs", "ip", "dnsmasq", "apt-cacher-ng",
                  "tempest", "subunit2csv"]
IPXE = """#!ipxe
# this run's servers on the cluster network; the discovery system's own script does the rest
set base-url http://{server}:{files}/discovery
set report-url http://{server}:{inventory}/v1/reports
chain ${{base-url}}/boot.ipxe
"""


class PhaseFailed(Exception):
    def __init__(self, message: str, machine: str | None = None, log_path: Path | None = None,
                 service: str | None = None):
        super().__init__(message)
        self.message, self.machine, self.log_path, self.service = message, machine, log_path, service


@dataclass
class Run:
    project: Project
    release: str
    suite: str
    layout: Layout
    build_set: dict
    dir: Path
    phases: list = field(default_factory=list)
    tests: list = field(default_factory=list)
    machines: list = field(default_factory=list)
    installed: dict = field(default_factory=dict)
    memory: dict = field(default_factory=dict)      # machine -> MiB total and used, after configure
    accelerator: str | None = None                  # kvm or tcg
    timeouts: dict = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    logs: dict = field(default_factory=dict)
    failure: dict | None = None
    current: str = "preflight"
    not_configured: dict = field(default_factory=dict)   # service -> PhaseFailed: smoke skips it
    recipes: dict = field(default_factory=dict)          # packaging/cluster-config.yaml
    changes: ChangeSet | None = None                     # the `changed` layout's selection
    task_times: list = field(default_factory=list)       # each node task: machine, queued and run seconds

    @contextmanager
    def phase(self, name: str):
        self.current = name
        started = time.monotonic()
        log.info(f"cluster: {name} ...")
        entry = {"name": name, "result": "passed"}
        self.phases.append(entry)
        try:
            yield
        except BaseException:
            entry["result"] = "failed"
            raise
        finally:
            entry["seconds"] = round(time.monotonic() - started, 1)
            log.info(f"cluster: {name}: {entry['result']} [{entry['seconds']:.0f}s]")


def preflight(project: Project, release: str, suite_name: str,
              layout_spec: str) -> tuple[Layout, dict, dict, ChangeSet | None]:
    """Everything that can be checked before anything starts. The `changed` layout is derived
    from what staging holds beside the tested suite (builders/cluster/changeset.py)."""
    suite = get_suite(suite_name)
    catalog = project.catalog()
    recipes = configure.load_recipes()
    needs = service_needs(recipes, configure.SERVICE_CONFIG.name)
    layout = None if layout_spec == CHANGED else load_layout(layout_spec, catalog)
    if layout:
        configure.check_recipes(layout, recipes)
    for tool in REQUIRED_TOOLS:
        tools.find(tool)
    if os.geteuid() != 0:
        raise StackdebError("the cluster stage needs root: it creates a network namespace, a bridge and "
                            "tap devices", hint="run it as root (or with sudo)")
    if layout:
        check_capacity(layout)
    problems = image_problems(project, release, suite.codename)
    if problems:
        raise StackdebError("the images are not ready for this target: " + "; ".join(problems))
    build_set, tested = live_suites(project.repo_dir, release, suite.codename)
    changes = None
    if layout is None:
        changes = changed_services(build_set["packages"], tested, needs)
        layout = derive_layout(changes, recipes, catalog)
        configure.check_recipes(layout, recipes)
        check_capacity(layout)
        log.info(f"cluster: changed since the tested suite: {', '.join(changes.changed)}"
                 + (f"; beside them from the tested suite: {', '.join(changes.needed)}" if changes.needed else ""))
    staged = {p["name"] for p in build_set["packages"]}
    from_tested = set(changes.needed) if changes else set()
    missing = [catalog.get(s).package_name for s in layout.services
               if s not in from_tested and catalog.get(s).package_name not in staged]
    if missing:
        raise StackdebError(f"{', '.join(missing)} not in {build_set['suite']} (generation "
                            f"{build_set['generation']})", hint="build and publish them first")
    return layout, recipes, build_set, changes


def check_capacity(layout: Layout, meminfo: Path = Path("/proc/meminfo"), cpus: int | None = None) -> None:
    """The VMs are made to the roles' sizes: this machine must be able to give them all."""
    cpus = cpus or os.cpu_count() or 1
    available = next(int(line.split()[1]) // 1024 for line in meminfo.read_text().splitlines()
                     if line.startswith("MemAvailable:"))
    wanted = sum(r.memory_mb for r in layout.roles)
    if wanted > available - 512:
        raise StackdebError(f"layout {layout.name} needs {wanted} MiB for its VMs and this machine has "
                            f"{available} MiB available", hint="free memory, or use a smaller layout")
    for role in layout.roles:
        if role.cpus > cpus:
            raise StackdebError(f"no machine can fit role {role.name}: it needs {role.cpus} CPUs and this "
                                f"machine has {cpus}", hint="lower hardware.cpus in the layout")


def run_cluster(project: Project, release: str, suite_name: str, layout_spec: str, keep: bool = False) -> tuple[bool, Path]:
    """Run the cluster for the live staged build set; return (passed, verdict path)."""
    limits = timeouts()
    layout, recipes, build_set, changes = preflight(project, release, suite_name, layout_spec)
    suite = get_suite(suite_name)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    run = Run(project, release, suite.codename, layout, build_set,
              project.target_dir("cluster", Target(release, suite)) / f"{stamp}-{os.getpid()}")
    run.timeouts = limits
    run.recipes = recipes
    run.changes = changes
    run.dir.mkdir(parents=True)
    if changes:         # kept as a file: `--layout <run>/layout.yaml` runs the same cluster again
        (run.dir / "layout.yaml").write_text(layout_yaml(layout))
        run.layout = layout = replace(layout, source=run.dir / "layout.yaml")
    log.info(f"cluster: layout {layout.name} on the build set of generation {build_set['generation']} "
             f"({len(build_set['packages'])} packages); run directory {run.dir}")
    started = time.time()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    teardown = []
    interrupted = False
    try:
        try:
            _run_phases(run, recipes, teardown, keep)
        except PhaseFailed as exc:
            run.failure = {"phase": run.current, "machine": exc.machine, "service": exc.service,
                           "message": exc.message, "log": str(exc.log_path) if exc.log_path else None}
        except StackdebError as exc:
            run.failure = {"phase": run.current, "machine": None, "service": None, "message": exc.message,
                           "log": None}
        except Exception as exc:     # a bug of ours: still a failing verdict and a full teardown
            import traceback
            (run.dir / "error.log").write_text(traceback.format_exc())
            run.failure = {"phase": run.current, "machine": None, "service": None,
                           "message": f"internal error: {exc!r}", "log": str(run.dir / "error.log")}
        except KeyboardInterrupt:
            interrupted = True
            run.failure = {"phase": run.current, "machine": None, "service": None,
                           "message": "interrupted", "log": None}
        _collect_consoles(run)
        passed = run.failure is None
        verdict = _verdict(run, passed, started)
        path = run.dir / "verdict.json"
        write_signed(verdict, path, project.build_dir)
        latest = run.dir.parent / "latest"
        tmp = run.dir.parent / ".latest.new"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run.dir.name)
        os.replace(tmp, latest)
        _summary(run, passed, path)
        if keep and not interrupted:
            try:
                _hold(run)
            except KeyboardInterrupt:       # the end of --keep: tear down, the verdict stands
                log.info("cluster: tearing the kept cluster down")
    finally:
        for step in reversed(teardown):
            try:
                step()
            except Exception as exc:    # one failed cleanup must not stop the others
                log.info(f"cluster: teardown: {exc}")
        signal.signal(signal.SIGTERM, previous)
    if interrupted:
        raise KeyboardInterrupt
    return passed, path


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _free_port(low: int = 3142, high: int = 32767) -> int:
    """A free port on 127.0.0.1 below 32768: apt-cacher-ng 3.7 cannot bind a port above."""
    for port in range(low, high):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise StackdebError(f"no free port on 127.0.0.1 between {low} and {high}")


def _run_phases(run: Run, recipes: dict, teardown: list, keep: bool) -> None:
    project, layout = run.project, run.layout
    catalog = project.catalog()
    images = project.build_dir / "images"
    discovery, node_image = images / f"discovery-{run.suite}", images / f"node-{run.release}-{run.suite}"
    board = TaskBoard(run.dir / "logs")
    run.task_times = board.timings
    passwords = configure.Secrets()
    # the images stay as they are while the run boots from them (a rebuild waits)
    held = ExitStack()
    teardown.append(held.close)
    held.enter_context(using(discovery))
    held.enter_context(using(node_image))
    run_id = str(os.getpid())
    with run.phase("network"):
        network = net.ClusterNetwork(run.dir)
        network.create()
        teardown.append(network.destroy)
        apt_port = _start_apt_proxy(run, teardown)
        www = run.dir / "www"
        www.mkdir()
        (www / "discovery").symlink_to(discovery.resolve())
        export_generation(project.repo_dir, run.build_set["generation"], www / "repo")
        (www / "boot.ipxe").write_text(IPXE.format(server=net.SERVER, **net.PORTS))
        inventory = Inventory(run.dir / "inventory.sqlite")
        servers = start_servers(network, www, board, inventory, apt_port, net.SERVER, net.PORTS,
                                f"{net.SUBNET}.0/24")
        teardown.append(servers.stop)
        teardown.append(board.close)
        for index, role in enumerate(layout.roles, start=1):
            machine = Machine.for_role(index, run_id, role, network.add_tap(index), net.machine_address(index),
                                       run.dir)
            run.machines.append(machine)
        # the machines' disks are throwaway too (a few GB each once installed): off, then gone
        teardown.append(lambda: [m.disk.unlink(missing_ok=True) for m in run.machines])
        teardown.append(lambda: [m.power_off() for m in run.machines])
        network.start_dhcp({m.mac: m.address for m in run.machines}, f"http://{net.SERVER}:{net.PORTS['files']}/boot.ipxe")
    accel = run.accelerator = qemu.accelerator(discovery / "vmlinuz", discovery / "initrd.img", project.cache_dir)
    with run.phase("boot"):
        for machine in run.machines:
            machine.boot_discovery(network.run_prefix(), accel)
    with run.phase("report"):
        _wait_for_reports(run, inventory)
    with run.phase("assign"):
        given = assign_roles(layout, inventory.machines())
        for machine in run.machines:
            machine.role = given[machine.serial]
            log.info(f"cluster: {machine.name} ({machine.serial}, {machine.mac}, {machine.address}) "
                     f"is the {machine.role}")
    by_role = {m.role: m for m in run.machines}
    ctx = configure.ClusterContext(
        layout, catalog, recipes, {role: m.address for role, m in by_role.items()}, net.SERVER,
        net.REPO_URL, f"http://{net.SERVER}:{net.PORTS['apt']}/",
        run.build_set["suite"], passwords, api_wait=max(60, int(run.timeouts["configure"]) - 60),
        from_tested=run.changes.needed if run.changes else (),
        tested_suite=Target(run.release, get_suite(run.suite)).tested_suite)
    roles = {r.name: r for r in layout.roles}
    tasks_url = f"http://{net.SERVER}:{net.PORTS['tasks']}/tasks"
    with run.phase("image"):
        for machine in run.machines:
            machine.install_node_image(node_image)
            machine.boot_node(network.run_prefix(), accel, node_image, f"{tasks_url}/{machine.serial}")
        _run_tasks(run, board, {m: configure.prepare_task(ctx, roles[m.role], m.hostname) for m in run.machines},
                   "prepare", run.timeouts["node"])
    collect = True
    try:
        _write_secrets(run.dir / "secrets.json", passwords)
        with run.phase("install"):
            results = _run_tasks(run, board, {m: configure.install_task(ctx, roles[m.role]) for m in run.machines},
                                 "install", run.timeouts["install"])
            for machine, output in results.items():
                run.installed[machine.name] = installed_packages(output)
        with run.phase("configure"):
            _configure(run, board, ctx, by_role, network)
        with run.phase("smoke"):
            _smoke(run, board, ctx, by_role, network, recipes)
        if run.not_configured:
            run.current = "configure"
            first = next(iter(run.not_configured.values()))
            names = ", ".join(run.not_configured)
            raise PhaseFailed(f"{len(run.not_configured)} services did not start ({names}); first: {first.message}"
                              if len(run.not_configured) > 1 else first.message,
                              first.machine, first.log_path, first.service)
    except KeyboardInterrupt:
        collect = False          # interrupted: tear down now, do not wait for the nodes
        raise
    finally:
        if collect:
            _collect_logs(run, board, catalog, roles, recipes)
        _write_secrets(run.dir / "secrets.json", passwords)


def _write_secrets(path: Path, passwords) -> None:
    """The run's passwords, readable by root only (for --keep: how to log in)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(passwords.values, handle, indent=2)


def _start_apt_proxy(run: Run, teardown: list) -> int:
    from builders.aptsources import machine_mirrors
    mirrors = machine_mirrors()
    port = _free_port()
    conf_dir, state = run.dir / "apt-cacher-ng", run.dir / "apt-cacher-ng" / "state"
    state.mkdir(parents=True)
    cache = run.project.cache_dir / "apt-cacher-ng"
    cache.mkdir(parents=True, exist_ok=True)
    (conf_dir / "acng.conf").write_text(aptcacherng.config(cache, state, port,
                                                           [u for u in (mirrors.archive, mirrors.security) if u]))
    proxy = aptcacherng.start(conf_dir)
    teardown.append(lambda: (proxy.terminate(), proxy.wait(10)))
    for _ in range(50):
        if proxy.poll() is not None:
            raise StackdebError(f"apt-cacher-ng exited at once: {proxy.stderr.read().decode(errors='replace')[-500:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return port
        except OSError:
            time.sleep(0.2)
    raise StackdebError("apt-cacher-ng did not start listening", hint=f"its log is in {state}")


def _wait_for_reports(run: Run, inventory: Inventory) -> None:
    deadline = time.monotonic() + run.timeouts["report"]
    waiting = {m.serial: m for m in run.machines}
    while waiting:
        for entry in inventory.machines():
            if waiting.pop(entry["machine"], None):
                log.info(f"cluster: {entry['machine']} reported ({len(run.machines) - len(waiting)}/"
                         f"{len(run.machines)})")
        for machine in waiting.values():
            if not machine.running():
                raise PhaseFailed(f"{machine.name} stopped before it reported", machine.name,
                                  machine.console("discovery"))
        if waiting and time.monotonic() > deadline:
            machine = next(iter(waiting.values()))
            raise PhaseFailed(f"{machine.name} did not report within {run.timeouts['report']:.0f}s", machine.name,
                              machine.console("discovery"))
        time.sleep(2)


def _run_tasks(run: Run, board: TaskBoard, scripts: dict, name: str, timeout: float,
               service: str | None = None) -> dict:
    """Submit one task per machine, wait for all; the first failure names its machine and log."""
    tasks = {machine: board.submit(machine.serial, name, script) for machine, script in scripts.items()}
    return {machine: _wait_task(board, machine, task, name, timeout, service) for machine, task in tasks.items()}


def _wait_task(board: TaskBoard, machine, task, name: str, timeout: float, service: str | None = None) -> str:
    """A submitted task's output; a failure or a timeout names its machine and log."""
    result = board.wait(task, timeout, machine.running)
    where = board.log_path(task)
    if result is None:
        console = machine.console("node")
        why = f"did not finish within {timeout:.0f}s" if machine.running() else "was cut short: the VM stopped"
        raise PhaseFailed(f"{machine.name} ({machine.role}): task {name} {why}", machine.name,
                          where if where.exists() else console, service)
    if result.rc != 0:
        tail = _reason(result.output, service or machine.name)
        raise PhaseFailed(f"{machine.name} ({machine.role}): {name} failed (exit {result.rc}): {tail}",
                          machine.name, where, service)
    return result.output


def _configure(run: Run, board: TaskBoard, ctx, by_role: dict, network) -> None:
    """Infrastructure; then keystone, and beside it every other service's setup (its
    configuration and schema need only MariaDB: on the other nodes at once, on keystone's own
    node after it); then the service users and endpoints; then each service's start."""
    layout = run.layout
    infrastructure = {by_role[r.name]: configure.infrastructure_task(ctx, r) for r in layout.roles if r.infrastructure}
    _run_tasks(run, board, infrastructure, "infrastructure", run.timeouts["configure"])
    node_of = {s: by_role[layout.role_of(s).name] for s in layout.services}
    keystone = board.submit(node_of["keystone"].serial, "keystone", configure.service_task(ctx, "keystone"))
    others = [s for s in layout.services if s != "keystone"]
    setups = {s: board.submit(node_of[s].serial, f"{s}-setup", configure.setup_task(ctx, s)) for s in others}
    _wait_task(board, node_of["keystone"], keystone, "keystone", run.timeouts["configure"], "keystone")
    with network.entered():
        wait_for_api(ctx.identity_url, 120)
        admin = Keystone(ctx.identity_url, ctx.passwords.get("admin"))
        for service in others:
            recipe = ctx.recipes[service]
            admin.register_service(service, recipe["type"], ctx.passwords.get(f"user-{service}"),
                                   ctx.endpoint(service) if recipe.get("endpoint") else None, configure.REGION)
    # every service gets its chance: one that does not start is recorded, the others go on to
    # the smoke tests, and the phase fails at the end naming the first
    starts = {}
    for service in others:
        if _service_done(run, board, node_of[service], setups[service], service):
            starts[service] = board.submit(node_of[service].serial, service, configure.start_task(ctx, service))
    for service, task in starts.items():
        _service_done(run, board, node_of[service], task, service)


def _service_done(run: Run, board: TaskBoard, machine, task, service: str) -> bool:
    """Whether a service's task passed; a failure is recorded against the service, not raised."""
    result = board.wait(task, run.timeouts["configure"], machine.running)
    if result is not None and result.rc == 0:
        return True
    failure = PhaseFailed(f"{service} on {machine.name} ({machine.role}) did not start: "
                          f"{_reason(result.output if result else '', service)}",
                          machine.name, board.log_path(task), service)
    run.not_configured[service] = failure
    run.tests.append(smoke.TestResult(f"stackdeb.configure.{service}", service, "failed", 0.0,
                                      "stackdeb", failure.message))
    log.info(f"cluster: {failure.message}")
    return False


def _reason(output: str, service: str) -> str:
    """The task's own verdict line ('glance: ... failed'), else its last lines."""
    said = [line for line in output.splitlines() if line.startswith(f"{service}: ")]
    return said[-1][len(service) + 2:] if said else (" | ".join(output.strip().splitlines()[-3:]) or "no answer")


def _smoke(run: Run, board: TaskBoard, ctx, by_role: dict, network, recipes: dict) -> None:
    layout, catalog = run.layout, run.project.catalog()
    live = [s for s in layout.services if s not in run.not_configured]
    for role in layout.roles:
        machine = by_role[role.name]
        units = configure.units_of(catalog, role, recipes)
        task = board.submit(machine.serial, "units", configure.units_task(units))
        result = board.wait(task, run.timeouts["logs"], machine.running)
        output = result.output if result else ""
        states = dict(line.split()[1:3] for line in output.splitlines()
                      if line.startswith("unit ") and len(line.split()) >= 3)
        memory = [line.split()[1:3] for line in output.splitlines() if line.startswith("memory ")]
        if memory:
            run.memory[machine.name] = {"total_mb": int(memory[0][0]), "used_mb": int(memory[0][1])}
        owner = {u: s for s in role.services for u in configure.units_of(catalog, _only(role, s), recipes)}
        for service in role.services:
            for unit, why in (recipes[service].get("not_started") or {}).items():
                run.tests.append(smoke.TestResult(f"stackdeb.unit_active.{unit}", service, "skipped", 0.0,
                                                  "stackdeb", f"not started on this cluster: {why}"))
        for unit in units:
            state = states.get(unit, "unknown")
            run.tests.append(smoke.TestResult(f"stackdeb.unit_active.{unit}", owner.get(unit, unit),
                                              "passed" if state == "active" else "failed", 0.0, "stackdeb",
                                              f"{unit} on {machine.name}: {state}"))
    with network.entered():
        admin = Keystone(ctx.identity_url, ctx.passwords.get("admin"))
        deployed = admin.catalog()
        for service in live:
            if recipes[service].get("endpoint"):
                run.tests.append(smoke.timed(f"stackdeb.version_request.{service}", service,
                                             smoke.version_check(admin, ctx.version_url(service))))
            for name, check in smoke.SERVICE_CHECKS.get(service, {}).items():
                run.tests.append(smoke.timed(f"stackdeb.{service}.{name}", service,
                                             check(admin, ctx.endpoint(service))))
    areas = {recipes[s]["smoke"]["tempest"]: s for s in live if recipes[s].get("smoke", {}).get("tempest")}
    if areas:
        conf = smoke.tempest_conf(ctx.identity_url, ctx.passwords.get("admin"), deployed, configure.REGION,
                                  run.dir / "tempest" / "logs", sorted(areas))
        results, tempest_log = smoke.run_tempest(run.dir / "tempest", conf, sorted(areas), areas,
                                                 network.run_prefix())
        run.tests += results
        run.logs["tempest"] = str(tempest_log)
        run.logs["tempest-requests"] = str(run.dir / "tempest" / "logs" / "tempest.log")
    failed = [t for t in run.tests if t.result == "failed"]
    problems = smoke.floor_failures(run.tests, {s: recipes[s].get("smoke", {}).get("floor", 1) for s in live})
    if failed:
        first = failed[0]
        raise PhaseFailed(f"{len(failed)} smoke tests failed, first: {first.name} ({first.service}): "
                          f"{first.detail}"[:600], None, Path(run.logs.get("tempest", run.dir)), first.service)
    if problems:
        raise PhaseFailed("; ".join(problems))


def _only(role, service):
    return replace(role, infrastructure=(), services=(service,))


def _collect_logs(run: Run, board: TaskBoard, catalog, roles: dict, recipes: dict) -> None:
    """Every unit's journal and service log from every node that is up; never fails the run."""
    tasks = {m: board.submit(m.serial, "logs", configure.logs_task(catalog, roles[m.role], recipes))
             for m in run.machines if m.running() and m.role}
    for machine, task in tasks.items():
        if board.wait(task, run.timeouts["logs"], machine.running) is not None:
            run.logs[f"{machine.name}-journals"] = str(board.log_path(task))


def _collect_consoles(run: Run) -> None:
    for machine in run.machines:
        for phase in ("discovery", "node"):
            if machine.console(phase).exists():
                run.logs[f"{machine.name}-{phase}-console"] = str(machine.console(phase))
    tasks = run.dir / "logs"
    if tasks.exists():
        run.logs["tasks"] = str(tasks)


def installed_packages(output: str) -> dict[str, dict]:
    """The install task's `installed NAME VERSION SHA256` lines: each package as the node's
    dpkg and apt report it (an empty sha256 when apt's index gave none)."""
    found = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) in (3, 4) and fields[0] == "installed":
            found[fields[1]] = {"version": fields[2], "sha256": fields[3] if len(fields) == 4 else ""}
    return found


def _verdict(run: Run, passed: bool, started: float) -> dict:
    counts = {k: sum(1 for t in run.tests if t.source == "tempest" and t.result == k)
              for k in ("passed", "failed", "skipped")}
    verdict = {
        "result": "pass" if passed else "fail",
        "target": {"release": run.release, "suite": run.suite},
        "build_set": run.build_set,
        "changes": run.changes.as_dict() if run.changes else None,
        "layout": {"name": run.layout.name, "file": str(run.layout.source),
                   "roles": {r.name: {"services": list(r.services), "infrastructure": list(r.infrastructure)}
                             for r in run.layout.roles}},
        "machines": [{"name": m.name, "serial": m.serial, "mac": m.mac, "address": m.address, "role": m.role,
                      "memory_mb": m.memory_mb, "cpus": m.cpus, "disk_gb": m.disk_gb,
                      "installed": {n: p["version"] for n, p in run.installed.get(m.name, {}).items()},
                      "installed_sha256": {n: p["sha256"] for n, p in run.installed.get(m.name, {}).items()},
                      "memory": run.memory.get(m.name)}
                     for m in run.machines],
        "accelerator": run.accelerator,
        "phases": run.phases,
        "tasks": run.task_times,
        "services": _services(run),
        "tests": [t.as_dict() for t in run.tests],
        "tempest": counts,
        "failure": run.failure,
        "logs": run.logs,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "run": random.token_hex(8),
    }
    # what it proved, for people: promotion recomputes it from the machines and tests
    covered, not_covered = coverage(verdict)
    verdict["coverage"] = {"covered": [p["name"] for p in covered], "not_covered": not_covered}
    return verdict


def _services(run: Run) -> dict:
    """Per service: where it ran, what was not started and why, and what the recipe notes."""
    found = {}
    for service in run.layout.services:
        recipe = run.recipes.get(service, {})
        found[service] = {"role": run.layout.role_of(service).name,
                          "configured": service not in run.not_configured,
                          "not_started": recipe.get("not_started") or {},
                          "notes": recipe.get("notes", "")}
    return found


def _summary(run: Run, passed: bool, path: Path) -> None:
    for entry in run.phases:
        log.info(f"cluster: phase {entry['name']:10} {entry['result']:7} {entry['seconds']:7.1f}s")
    ran = [t for t in run.tests if t.result != "skipped"]
    log.info(f"cluster: tests: {sum(t.result == 'passed' for t in run.tests)} passed, "
             f"{sum(t.result == 'failed' for t in run.tests)} failed, "
             f"{len(run.tests) - len(ran)} skipped")
    if passed:
        log.info(f"cluster: PASS: verdict {path}")
    else:
        f = run.failure
        where = ", ".join(x for x in (f.get("service"), f.get("machine")) if x)
        log.info(f"cluster: FAIL in phase {f['phase']}{' (' + where + ')' if where else ''}: {f['message']}")
        if f.get("log"):
            log.info(f"cluster: see {f['log']}")


def _hold(run: Run) -> None:
    log.info("cluster: --keep: the cluster stays up until this command is interrupted (Ctrl-C)")
    for machine in run.machines:
        log.info(f"  {machine.name} {machine.role}: {machine.address}  console {machine.console('node')}")
    ns = f"{net.PREFIX}{os.getpid()}"
    log.info(f"  reach it from this machine: ip netns exec {ns} curl http://{run.machines[0].address}:5000/v3")
    log.info(f"  passwords (admin, services): {run.dir / 'secrets.json'} (mode 0600)")
    while True:
        time.sleep(3600)
