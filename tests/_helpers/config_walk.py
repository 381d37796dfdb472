"""Finding transforms in a (nested) pipeline config."""


def find_transforms(node, type_name: str) -> list:
    """Every ``dict(type=type_name, ...)`` inside ``node`` (dicts, lists,
    tuples, e.g. a MultiView's pipelines), in order; the dicts themselves,
    so a test may read or change them."""
    found = []
    if isinstance(node, dict):
        if node.get('type') == type_name:
            found.append(node)
        for value in node.values():
            found.extend(find_transforms(value, type_name))
    elif isinstance(node, (list, tuple)):
        for value in node:
            found.extend(find_transforms(value, type_name))
    return found
