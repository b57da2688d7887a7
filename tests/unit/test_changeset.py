"""What the cluster tests by default (builders/cluster/changeset.py): the services whose staged
package differs from the tested suite's, closed under `needs`, the unchanged ones from the
tested suite, on a layout derived from them that places each exactly once."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from builders import PROJECT_DIR
from builders.catalog import load_catalog
from builders.cluster import configure
from builders.cluster.changeset import (ChangeSet, NothingToTest, changed_services, derive_layout, estimate_mb,
                                        layout_yaml)
from builders.cluster.layout import load_layout
from builders.cluster.needs import service_needs
from builders.errors import StackdebError

CATALOG = load_catalog(PROJECT_DIR / "packaging/services.yaml")
RECIPES = configure.load_recipes()
NEEDS = service_needs(RECIPES, "cluster-config.yaml")
SERVICES = sorted(NEEDS)


def packages(versions: dict[str, str], digest: str = "") -> list[dict]:
    return [{"name": f"venv-{s}", "version": v, "sha256": f"{s}-{v}{digest}"} for s, v in versions.items()]


def everything(version: str, **changed: str) -> dict[str, str]:
    return {s: changed.get(s, version) for s in SERVICES}


def test_one_changed_service_runs_beside_what_it_needs_from_the_tested_suite():
    changes = changed_services(packages(everything("1", placement="2")), packages(everything("1")), NEEDS)
    assert changes == ChangeSet(("placement",), ("keystone",))
    layout = derive_layout(changes, RECIPES, CATALOG)
    (role,) = layout.roles
    assert role.services == ("keystone", "placement") and role.infrastructure == ("mariadb", "memcached")
    assert role.memory_mb == 2048 and layout.name == "changed"


def test_nova_brings_the_services_it_needs_and_rabbitmq_and_spreads_over_the_full_layouts_roles():
    changes = changed_services(packages(everything("1", nova="2")), packages(everything("1")), NEEDS)
    assert changes.changed == ("nova",) and changes.needed == ("glance", "keystone", "neutron", "placement")
    layout = derive_layout(changes, RECIPES, CATALOG)
    assert sorted(layout.services) == sorted(changes.services)
    assert layout.role_with("rabbitmq") and layout.role_with("mariadb") == layout.role_of("keystone")


def test_a_change_to_every_service_gives_the_full_catalog_on_the_full_layout():
    changes = changed_services(packages(everything("2")), packages(everything("1")), NEEDS)
    assert changes.needed == () and sorted(changes.changed) == SERVICES
    derived, full = derive_layout(changes, RECIPES, CATALOG), load_layout("full", CATALOG)
    assert [(r.name, r.memory_mb, r.services) for r in derived.roles] == \
        [(r.name, r.memory_mb, r.services) for r in full.roles]


def test_the_first_build_set_is_all_changed():
    changes = changed_services(packages({"keystone": "1", "glance": "1"}), [], NEEDS)
    assert changes == ChangeSet(("glance", "keystone"), ())


def test_the_same_version_with_other_bytes_is_a_change():
    tested = packages(everything("1"))
    staged = packages(everything("1"))
    staged[SERVICES.index("glance")]["sha256"] = "f" * 64
    assert changed_services(staged, tested, NEEDS).changed == ("glance",)


def test_nothing_changed_says_so():
    with pytest.raises(NothingToTest, match="nothing changed"):
        changed_services(packages(everything("1")), packages(everything("1")), NEEDS)


def test_a_needed_service_in_neither_suite_is_one_clear_error():
    with pytest.raises(StackdebError, match="nova need glance, neutron, placement, which neither staging nor"):
        changed_services(packages({"nova": "2", "keystone": "1"}), packages({"keystone": "1"}), NEEDS)


def test_a_recipes_memory_that_is_no_number_is_refused():
    with pytest.raises(StackdebError, match="keystone: memory_mb must be a whole number"):
        estimate_mb(["keystone"], [], {"keystone": {"memory_mb": "lots"}})


def test_services_from_the_tested_suite_are_installed_from_it_and_its_suite_is_a_source():
    from test_cluster_logic import context
    from dataclasses import replace
    ctx = replace(context(), from_tested=("keystone",), tested_suite="bookworm-2026.1")
    install = configure.install_task(ctx, ctx.layout.roles[0])
    assert "venv-keystone/bookworm-2026.1 venv-placement " in install
    prepare = configure.prepare_task(ctx, ctx.layout.roles[0], "node1")
    assert "Suites: bookworm-2026.1-staging bookworm-2026.1\n" in prepare
    plain = configure.prepare_task(context(), context().layout.roles[0], "node1")
    assert "Suites: bookworm-2026.1-staging\n" in plain


suites = st.fixed_dictionaries({}, optional={s: st.sampled_from(["1", "2"]) for s in SERVICES})


@settings(max_examples=300, deadline=None)
@given(staged=suites, tested=suites)
def test_any_selection_is_closed_under_needs_and_its_layout_places_each_service_once(staged, tested):
    try:
        changes = changed_services(packages(staged), packages(tested), NEEDS)
    except NothingToTest:
        assert all(tested.get(s) == v for s, v in staged.items())
        return
    except StackdebError as error:      # a needed service neither suite holds
        assert "neither staging nor the tested suite holds" in error.message
        return
    chosen = set(changes.services)
    assert all(set(NEEDS[s]) <= chosen for s in chosen)                      # closed under needs
    assert all(staged[s] != tested.get(s) for s in changes.changed)           # changed: differs
    assert all(s in tested and staged.get(s) in (None, tested[s]) for s in changes.needed)
    assert not set(changes.changed) & set(changes.needed)
    layout = derive_layout(changes, RECIPES, CATALOG)
    assert sorted(layout.services) == sorted(chosen)                          # each once
    assert layout.role_with("mariadb") is not None and "keystone" in layout.services
    for role in layout.roles:
        assert role.memory_mb >= 512 and role.cpus >= 1
    # what the run keeps is a layout file that gives the same roles again
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "layout.yaml"
        path.write_text(layout_yaml(layout))
        again = load_layout(str(path), CATALOG)
    assert [(r.name, r.memory_mb, r.cpus, r.disk_gb, r.infrastructure, r.services) for r in again.roles] == \
        [(r.name, r.memory_mb, r.cpus, r.disk_gb, r.infrastructure, r.services) for r in layout.roles]
