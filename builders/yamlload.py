"""The one way stackdeb reads YAML: safe, and bounded. An alias (`*name`) repeats what its anchor
holds without copying it, so ten lines can stand for a billion values (the "billion laughs")
that any code walking the result would then visit; and an alias inside its own anchor makes a
structure that contains itself. Both are refused as YAML errors, before anything is built, so
every reader's existing "is not valid YAML" message covers them. Anchors that repeat a little
(merge keys in packaging/cluster-config.yaml) stay fine."""

import yaml

# more values than any input of stackdeb holds (the releases snapshot's largest file: ~2,000)
MAX_VALUES = 200_000


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader; documents are checked between composing and constructing."""


def load_yaml(text: str, max_values: int = MAX_VALUES):
    """The single YAML document in `text` as data (None when empty), like yaml.safe_load; a
    yaml.YAMLError when it is malformed, holds itself, or expands past `max_values` values."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_expansion(node, max_values)
            return loader.construct_document(node)
        except RecursionError:
            raise yaml.YAMLError("the document is nested too deeply") from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, max_values: int) -> None:
    sizes: dict[int, int] = {}        # node id -> values it expands to; -1 while being counted

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known == -1:
            raise yaml.YAMLError(f"an alias at {node.start_mark} refers to a value that contains it")
        if known is not None:
            return known
        sizes[id(node)] = -1
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(key) + size(value) for key, value in node.value)
        else:
            total = 1
        if total > max_values:
            raise yaml.YAMLError(f"the document expands to more than {max_values} values through its "
                                 f"aliases (at {node.start_mark})")
        sizes[id(node)] = total
        return total

    size(root)
