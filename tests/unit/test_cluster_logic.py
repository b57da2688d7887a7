"""The cluster stage's own logic: layouts, role matching, rendered tasks, smoke results."""

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from builders import PROJECT_DIR
from builders.catalog import load_catalog
from builders.cluster import configure, smoke
from builders.cluster.layout import assign_roles, load_layout
from builders.errors import StackdebError

CATALOG = load_catalog(PROJECT_DIR / "packaging/services.yaml")


def report(serial, memory_mb, cpus=2, disk_gb=6):
    return {"machine": serial, "report": {"memory": {"total_bytes": int(memory_mb * 0.95) * 2**20},
                                          "cpu": {"count": cpus},
                                          "disks": [{"size_bytes": disk_gb * 2**30}]}}


def test_the_project_layouts_load():
    minimal = load_layout("minimal", CATALOG)
    assert [r.name for r in minimal.roles] == ["controller", "image"]
    assert minimal.role_of("glance").name == "image" and minimal.role_with("mariadb").name == "controller"
    assert set(load_layout("full", CATALOG).services) == {svc.name for svc in CATALOG}


def test_roles_go_to_the_machines_that_fit_them():
    layout = load_layout("minimal", CATALOG)
    given = assign_roles(layout, [report("small", 1024), report("big", 2048)])
    assert given == {"big": "controller", "small": "image"}


def test_a_role_that_no_machine_fits_is_a_clear_error():
    layout = load_layout("minimal", CATALOG)
    with pytest.raises(StackdebError, match="no discovered machine fits role controller .2048 MiB"):
        assign_roles(layout, [report("a", 1024), report("b", 1024)])
    with pytest.raises(StackdebError, match="fits role image"):
        assign_roles(layout, [report("a", 4096)])


@pytest.mark.parametrize("text, message", [
    ("roles: []", "expected a mapping with 'roles'"),
    ("roles: {a: {services: [nosuch]}}", "unknown service 'nosuch'"),
    ("roles: {a: {services: [keystone], hardware: {memory_mb: 1}}}", "hardware.memory_mb must be a whole number >= 512"),
    ("roles: {a: {services: [keystone], colour: red}}", "unknown keys: colour"),
    ("roles: {a: {services: [keystone]}}", "no role has mariadb"),
    ("roles: {a: {infrastructure: [mariadb], services: [glance]}}", "no role has it"),
    ("roles: {a: {infrastructure: [oracle]}}", "unknown infrastructure oracle"),
    ("roles: {a: {infrastructure: [mariadb], services: [keystone]}, b: {services: [keystone]}}",
     "keystone is in both roles a and b"),
    ("roles: [unclosed", "not valid YAML"),
    ("roles: {a: {infrastructure: [mariadb], services: [[keystone]]}}", "services and infrastructure are lists of names"),
    ("roles: {a: {infrastructure: [{mariadb: 1}]}}", "services and infrastructure are lists of names"),
])
def test_malformed_layouts_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(StackdebError, match=message):
        load_layout(str(path), CATALOG)


NAMES = st.sampled_from(["roles", "controller", "services", "infrastructure", "hardware", "memory_mb", "cpus",
                          "keystone", "glance", "mariadb", "memcached", "x"])
YAML_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-5, 5000) | NAMES,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(NAMES, inner, max_size=4),
                           max_leaves=20)


ROLES = st.dictionaries(NAMES, st.fixed_dictionaries({}, optional={
    "services": st.lists(NAMES | YAML_VALUES, max_size=3), "infrastructure": st.lists(NAMES | YAML_VALUES, max_size=3),
    "hardware": st.dictionaries(NAMES, YAML_VALUES, max_size=2) | YAML_VALUES}) | YAML_VALUES, max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"roles": ROLES}) | st.dictionaries(NAMES, YAML_VALUES, max_size=3) | YAML_VALUES)
def test_any_layout_is_a_layout_or_one_clear_error(tmp_path_factory, data):
    """Whatever a layout file holds, loading it gives a layout or a StackdebError, nothing else."""
    path = tmp_path_factory.mktemp("layout") / "any.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_layout(str(path), CATALOG)
    except StackdebError:
        pass


def test_unknown_layouts_and_services_without_a_recipe_are_refused():
    with pytest.raises(StackdebError, match="unknown layout 'huge'"):
        load_layout("huge", CATALOG)
    recipes = configure.load_recipes()
    del recipes["heat"], recipes["swift"]
    with pytest.raises(StackdebError, match="no cluster recipe for heat, swift"):
        configure.check_recipes(load_layout("full", CATALOG), recipes)
    for name in ("minimal", "single", "full"):
        configure.check_recipes(load_layout(name, CATALOG), configure.load_recipes())


def context(layout_name: str = "minimal", suite: str = "bookworm-2026.1-staging"):
    """A run's context: the layout's roles on .11 and .12, in the layout's order."""
    layout = load_layout(layout_name, CATALOG)
    addresses = {role.name: f"10.77.0.{11 + n}" for n, role in enumerate(layout.roles)}
    return configure.ClusterContext(layout, CATALOG, configure.load_recipes(), addresses, "10.77.0.1",
                                    "http://10.77.0.1:8080/repo/", "http://10.77.0.1:3142/",
                                    suite, configure.Secrets())


def test_every_recipe_renders_on_the_full_layout():
    ctx = context("full", "trixie-2026.1-staging")
    rabbit = ctx.passwords.get("rabbitmq")
    for service in ctx.layout.services:
        script = configure.service_task(ctx, service)
        assert "${" not in script.replace("${ring", "").replace("${restarts", ""), service
        if service not in ("keystone", "placement", "glance", "swift"):
            assert f"rabbit://openstack:{rabbit}@10.77.0.11:5672/" in script, service
    nova = configure.service_task(ctx, "nova")
    assert "systemctl disable --now nova-novncproxy.service" in nova
    assert "nova-novncproxy" not in nova.split("systemctl enable")[1].split("\n")[0]
    infrastructure = configure.infrastructure_task(ctx, ctx.layout.roles[0])
    for database in ("nova_api", "nova_cell0", "neutron", "cloudkitty"):
        assert f"CREATE DATABASE IF NOT EXISTS {database};" in infrastructure
    assert "CREATE DATABASE IF NOT EXISTS swift;" not in infrastructure
    assert f'rabbitmqctl add_user openstack "{rabbit}"' in infrastructure
    assert "|| true" not in infrastructure                               # a failure is the task's
    assert "CREATE DATABASE IF NOT EXISTS ceilometer;" not in infrastructure
    assert "sleep 30" in configure.service_task(ctx, "ceilometer")       # no API: units must stay up
    assert "end=$(( $(date +%s) + 600 ))" in nova                        # the default wait for an API
    ctx.api_wait = 2640
    assert "nothing answers HTTP on port 8774 after 2640s" in configure.service_task(ctx, "nova")
    assert ctx.endpoint("swift") == "http://10.77.0.12:8080/v1/AUTH_%(project_id)s"
    assert ctx.version_url("swift") == "http://10.77.0.12:8080/info"
    assert ctx.version_url("keystone") == "http://10.77.0.11:5000/v3"
    units = configure.units_of(CATALOG, ctx.layout.roles[0], ctx.recipes)
    assert "cinder-volume" not in units and "cinder-backup" in units and "rabbitmq-server" in units




def test_the_infrastructure_a_role_runs_is_enabled_and_keystone_caches_in_its_memcached(tmp_path):
    """The node image carries every infrastructure package with its units off: the role's
    infrastructure task enables what the role runs; keystone's cache is the layout's memcached."""
    ctx = context("full", "trixie-2026.1-staging")
    infrastructure = configure.infrastructure_task(ctx, ctx.layout.roles[0])
    for unit in ("mariadb", "memcached", "rabbitmq-server"):
        assert f"systemctl enable {unit}" in infrastructure
    assert "[cache]\nenabled = true\nbackend = oslo_cache.memcache_pool\nmemcache_servers = 10.77.0.11:11211\n" \
        in configure.service_task(ctx, "keystone")
    assert "[cache]" not in configure.service_task(ctx, "placement")
    path = tmp_path / "no-memcached.yaml"
    path.write_text("roles: {a: {infrastructure: [mariadb], services: [keystone]}}")
    alone = configure.ClusterContext(load_layout(str(path), CATALOG), CATALOG, configure.load_recipes(),
                                     {"a": "10.77.0.11"}, "10.77.0.1", "http://10.77.0.1:8080/repo/",
                                     "http://10.77.0.1:3142/", "trixie-2026.1-staging", configure.Secrets())
    assert "[cache]" not in configure.service_task(alone, "keystone")
    setup = configure.service_task(ctx, "keystone")          # the key setups run beside db_sync, checked
    assert "& fernet=$!" in setup and "\nwait $fernet\nwait $credential\n" in setup


def test_glance_is_configured_against_the_other_machines_database_and_keystone():
    ctx = context()
    script = configure.service_task(ctx, "glance")
    password = ctx.passwords.get("db-glance")
    assert f"connection = mysql+pymysql://glance:{password}@10.77.0.11/glance" in script
    assert "www_authenticate_uri = http://10.77.0.11:5000/v3" in script
    assert f"password = {ctx.passwords.get('user-glance')}" in script
    assert "install -m 0640 -o root -g glance" in script
    assert "systemctl restart glance-api.service" in script
    assert ctx.endpoint("glance") == "http://10.77.0.12:9292"


def test_the_bootstrap_password_never_reaches_a_command_line():
    ctx = context()
    script = configure.service_task(ctx, "keystone")
    admin = ctx.passwords.get("admin")
    lines_with_password = [line for line in script.splitlines() if admin in line]
    assert lines_with_password == [f"export OS_BOOTSTRAP_PASSWORD={admin}"]
    assert "--bootstrap-public-url http://10.77.0.11:5000/v3/" in script


def test_the_node_installs_from_the_run_repository_through_the_proxy():
    ctx = context()
    prepare = configure.prepare_task(ctx, ctx.layout.roles[0], "controller-1")
    assert 'Acquire::http::Proxy "http://10.77.0.1:3142/";' in prepare
    assert 'Acquire::http::Proxy::10.77.0.1 "DIRECT";' in prepare
    assert "URIs: http://10.77.0.1:8080/repo/\nSuites: bookworm-2026.1-staging" in prepare
    assert '-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$only"' in prepare  # stackdeb's only
    install = configure.install_task(ctx, ctx.layout.roles[0])
    assert "mariadb-server memcached venv-keystone venv-placement" in install
    # Debian's indices only when the node image lacks something, and then the install again
    fallback = install.split("if ! install_packages; then\n")[1].split("\nfi\n")[0]
    assert "apt-get update -q 2>&1" in fallback and "install_packages ||" in fallback
    infrastructure = configure.infrastructure_task(ctx, ctx.layout.roles[0])
    for service in ("keystone", "placement", "glance"):
        assert f"CREATE DATABASE IF NOT EXISTS {service};" in infrastructure
    assert configure.units_of(CATALOG, ctx.layout.roles[0], ctx.recipes) == ["mariadb", "memcached", "keystone-api",
                                                                             "placement-api"]


# as subunit2csv prints it
CSV = """test,status,start_time,stop_time
"tempest.api.identity.v3.test_tokens.TokensV3Test.test_create_token[id-1,smoke]",success,2026-11-22 10:00:00+00:00,2026-11-22 10:00:01.500000+00:00
"tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_delete_image[id-2,smoke]",fail,2026-11-22 10:00:00+00:00,2026-11-22 10:00:02+00:00
"tempest.api.image.v2.test_images.ImportImagesTest.test_image_import[id-3,smoke]",skip,2026-11-22 10:00:00+00:00,2026-11-22 10:00:00+00:00
"""


def test_tempest_results_are_attributed_to_services():
    results = smoke.parse_subunit_csv(CSV, {"identity": "keystone", "image": "glance"})
    assert [(r.service, r.result, r.seconds) for r in results] == [
        ("keystone", "passed", 1.5), ("glance", "failed", 2.0), ("glance", "skipped", 0.0)]
    assert results[0].name == "tempest.api.identity.v3.test_tokens.TokensV3Test.test_create_token"


def test_a_service_whose_tests_were_all_skipped_does_not_pass_its_floor():
    results = [smoke.TestResult("a", "glance", "skipped", 0, "tempest"),
               smoke.TestResult("b", "glance", "passed", 0, "stackdeb"),
               smoke.TestResult("c", "keystone", "passed", 0, "tempest")]
    assert smoke.floor_failures(results, {"glance": 2, "keystone": 1}) == [
        "only 1 tests ran for glance (at least 2 must)"]


def test_tempest_config_marks_only_deployed_services_available():
    conf = smoke.tempest_conf("http://10.77.0.11:5000/v3", "pw", [{"type": "identity"}, {"type": "image"}],
                              "RegionOne", PROJECT_DIR)
    assert "glance = true" in conf and "nova = false" in conf and "neutron = false" in conf
    assert "swift = false" in conf and "uri_v3 = http://10.77.0.11:5000/v3" in conf
    assert "create_isolated_networks = false" in conf      # identity and image need no networks
    assert "create_isolated_networks = true" in smoke.tempest_conf(
        "http://10.77.0.11:5000/v3", "pw", [{"type": "network"}], "RegionOne", PROJECT_DIR, ["network"])
    assert smoke.tempest_regex(["image", "identity"]) == r"^tempest\.api\.(identity|image)\..*\[.*\bsmoke\b.*\]"


def test_a_layout_bigger_than_this_machine_is_refused_before_anything_starts(tmp_path):
    from builders.cluster.run import check_capacity
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 8388608 kB\nMemAvailable: 4194304 kB\n")
    layout = load_layout("minimal", CATALOG)
    check_capacity(layout, meminfo, cpus=2)
    with pytest.raises(StackdebError, match="no machine can fit role controller: it needs 2 CPUs"):
        check_capacity(layout, meminfo, cpus=1)
    meminfo.write_text("MemTotal: 4194304 kB\nMemAvailable: 2097152 kB\n")
    with pytest.raises(StackdebError, match="needs 3072 MiB for its VMs and this machine has 2048 MiB"):
        check_capacity(layout, meminfo, cpus=2)


@given(machine=st.text(max_size=40), product=st.text(max_size=40), total=st.integers(1, 10**400),
       cpus=st.integers(1, 4096), seen=st.integers(0, 2**31))
def test_the_machine_list_is_printable_whatever_a_machine_reported(machine, product, total, cpus, seen):
    """`stackdeb machines`: a report's strings never put a control character on the operator's
    terminal, and no size it claims ends the list in a traceback."""
    from builders.inventory import format_machines
    entry = {"machine": machine, "last_seen": seen,
             "report": {"memory": {"total_bytes": total}, "machine": {"product": product}, "cpu": {"count": cpus},
                        "disks": [], "nics": []}}
    for line in format_machines([entry]).split("\n"):
        assert line.isprintable(), line
