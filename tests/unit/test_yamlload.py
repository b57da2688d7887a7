"""Every YAML stackdeb reads goes through builders/yamlload: whatever the text, a value or a
yaml.YAMLError (which each reader turns into its one line), never unbounded memory, a
structure that holds itself, or another exception."""

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from builders.yamlload import load_yaml

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(ord('b') + i)}: &{chr(ord('b') + i)} [{', '.join(['*' + chr(ord('a') + i)] * 9)}]\n" for i in range(8))


def test_a_billion_laughs_is_refused_before_anything_is_built():
    with pytest.raises(yaml.YAMLError, match="expands to more than 200000 values through its aliases"):
        load_yaml(LAUGHS)


def test_a_value_that_contains_itself_is_refused():
    with pytest.raises(yaml.YAMLError, match="refers to a value that contains it"):
        load_yaml("a: &x [1, *x]\n")


def test_anchors_that_repeat_a_little_still_work_like_safe_load():
    text = "base: &base {user: x, region: r}\none:\n  <<: *base\n  user: y\ntwo: [*base, *base]\n"
    assert load_yaml(text) == yaml.safe_load(text)
    assert load_yaml("") is None and load_yaml("# nothing\n") is None
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: [unclosed\n")
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: !!python/object:os.system x\n")      # safe: no Python objects


def test_deep_nesting_is_a_yaml_error():
    with pytest.raises(yaml.YAMLError):
        load_yaml("[" * 100000 + "]" * 100000)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{},&*!<>|'\"#\n 0@%`?\t")), max_size=200))
def test_any_text_is_a_value_or_a_yaml_error(text):
    try:
        load_yaml(text)
    except yaml.YAMLError:
        pass
