"""The services' needs (packaging/cluster-config.yaml) and what promotion keeps of a covered
set: a service is promoted only beside the versions of what it needs that the tested suite
will hold, whatever the verdict and the tested suite hold."""

import pytest
from hypothesis import given, strategies as st

from builders.cluster.configure import SERVICE_CONFIG, load_recipes
from builders.cluster.needs import service_needs, with_their_needs
from builders.errors import StackdebError

NEEDS = {"keystone": [], "placement": ["keystone"], "glance": ["keystone"],
         "nova": ["keystone", "placement", "glance"]}


def package(service: str, version: str) -> dict:
    return {"name": f"venv-{service}", "version": version, "sha256": service + version}


def ran(**versions: str) -> dict:
    return {"machines": [{"installed": {f"venv-{s}": v for s, v in versions.items()}}]}


def test_the_projects_map_is_sound_and_names_nova_s_neighbours():
    needs = service_needs(load_recipes(), SERVICE_CONFIG.name)
    assert needs["nova"] == ["keystone", "placement", "glance", "neutron"] and needs["keystone"] == []


@pytest.mark.parametrize("recipes, message", [
    ({"a": {"needs": ["b"]}, "b": {"needs": ["c"]}, "c": {"needs": ["a"]}},
     "the services' needs go round in a circle: a -> b -> c -> a"),
    ({"a": {"needs": ["a"]}}, "go round in a circle: a -> a"),
    ({"a": {"needs": ["zaqar"]}}, "a needs zaqar, which has no recipe there"),
    ({"a": {"needs": "b"}, "b": {}}, "a: 'needs' must be a list of service names"),
])
def test_a_broken_map_is_one_clear_line(recipes, message):
    with pytest.raises(StackdebError, match=message.replace("(", r"\(")):
        service_needs(recipes, "cluster-config.yaml")


def test_a_service_is_kept_beside_what_it_needs_promoted_with_it_or_already_tested():
    covered = [package("keystone", "2"), package("placement", "2")]
    assert with_their_needs(covered, ran(keystone="2", placement="2"), NEEDS, {}) == (covered, {})
    # placement alone changed: keystone ran at its tested version
    only = [package("placement", "2")]
    assert with_their_needs(only, ran(keystone="1", placement="2"), NEEDS, {"venv-keystone": "1"}) == (only, {})


def test_leaving_one_out_leaves_out_what_needs_it():
    covered = [package("placement", "2"), package("nova", "2")]
    kept, dropped = with_their_needs(covered, ran(keystone="3", placement="2", glance="1", nova="2"), NEEDS,
                                     {"venv-keystone": "1", "venv-glance": "1"})
    assert kept == []
    assert dropped["venv-placement"] == ("needs keystone, which ran at 3: neither promoted with it nor the "
                                         "tested version (1)")
    assert dropped["venv-nova"].startswith("needs keystone, which ran at 3")
    kept, dropped = with_their_needs([package("nova", "2")], ran(nova="2"), NEEDS, {})
    assert kept == [] and dropped == {"venv-nova": "needs keystone, which this run did not install"}


SERVICES = sorted(NEEDS)
VERSIONS = ["1", "2"]


@given(covered=st.dictionaries(st.sampled_from(SERVICES), st.sampled_from(VERSIONS)),
       others=st.dictionaries(st.sampled_from(SERVICES), st.sampled_from(VERSIONS)),
       tested=st.dictionaries(st.sampled_from(SERVICES), st.sampled_from(VERSIONS)))
def test_every_kept_service_ran_beside_what_the_tested_suite_will_hold(covered, others, tested):
    verdict = ran(**{**others, **covered})          # the covered ones ran at their version
    tested = {f"venv-{s}": v for s, v in tested.items()}
    kept, dropped = with_their_needs([package(s, v) for s, v in covered.items()], verdict, NEEDS, tested)
    will_hold = {**tested, **{p["name"]: p["version"] for p in kept}}
    installed = verdict["machines"][0]["installed"]
    for entry in kept:
        for needed in NEEDS[entry["name"].removeprefix("venv-")]:
            assert installed.get(f"venv-{needed}") == will_hold.get(f"venv-{needed}") is not None
    assert {p["name"] for p in kept} | set(dropped) == {f"venv-{s}" for s in covered}
