"""Limits on incoming rows: the wording of each refusal and the helpers that bound what is kept.

Every limit lives in `tastemaker.config.IngestConfig`; each is checked in one place (the body
parser for what only it can see, the column-wise checks of `tastemaker.ingest.checks` for
the rest) and worded here, so a refusal always names the field and the setting at fault.
"""

from __future__ import annotations

from typing import Any

import orjson

#: Characters of a value quoted inside a reason (the value itself may be megabytes).
QUOTE_CHARS = 64
#: Characters of a field name, an id or a reason kept in a refusal or a dead letter.
LABEL_CHARS = 512
#: Keys of a dead-letter payload that is not the row itself (an excerpt, dropped content).
EXCERPT_KEY, BYTES_KEY, DROPPED_KEY = "_excerpt", "_bytes", "_dropped"


def clip(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters (marked with an ellipsis), NUL written as ``\\0``.

    NUL cannot be stored in PostgreSQL text, so a refused value that holds one is kept in
    a readable form instead.
    """
    cut = text if len(text) <= limit else text[:limit] + "…"
    return cut.replace("\x00", "\\0")


def name_problem(name: str, *, attribute: bool, max_length: int) -> str | None:
    """Why ``name`` cannot be a field or attribute name of a row, or None when it can.

    Names starting with ``_`` are validation's working columns; ``*`` and ``^...$`` would be
    read by the column engine as a wildcard or a pattern. Attribute names must also be
    non-empty, at most ``max_length`` characters and free of NUL.
    """
    shown = clip(name)
    if name.startswith("_"):
        return f"field '{shown}': names starting with '_' are reserved; rename the field"
    if name == "*" or (name.startswith("^") and name.endswith("$")):
        return (
            f"field '{shown}': '*' and names of the form '^...$' are not allowed; rename the field"
        )
    if not attribute:
        return None
    if not name.strip():
        return "attribute names must not be empty"
    if "\x00" in name:
        return f"attribute name '{shown}' contains a NUL character"
    if len(name) > max_length:
        return f"attribute name '{shown}' is longer than {max_length} characters"
    return None


def unknown_field(name: str, fields: tuple[str, ...]) -> str:
    """The refusal of a field the row's schema does not have."""
    return (
        f"field '{clip(name)}' is not an event field (expected {', '.join(fields)};"
        " free data goes into 'properties')"
    )


def too_many_names(limit: int) -> str:
    """The refusal of a row bringing attribute names past ``max_attribute_names``."""
    return f"more than {limit} distinct attribute names (limit ingest.max_attribute_names)"


def too_deep(field: str, limit: int) -> str:
    """The refusal of a JSON value nested deeper than ``max_json_depth``."""
    shown = clip(field)
    return f"field '{shown}' is nested deeper than {limit} levels (limit ingest.max_json_depth)"


def json_depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value: 0 for a scalar, 1 for ``{}`` or ``[1]``."""
    if not isinstance(value, (dict, list)):
        return 0
    deepest, todo = 0, [(value, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node
        todo.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def text_depth(text: str) -> int:
    """Nesting depth of JSON text (0 when it is not JSON or deeper than the parser allows)."""
    try:
        return json_depth(orjson.loads(text))
    except orjson.JSONDecodeError:
        return 0


def dropped_excerpt(dropped: dict[str, Any], limit: int) -> str:
    """What the body parser removed from a refused row, as bounded JSON-ish text."""
    try:
        text = orjson.dumps(dropped).decode()
    except TypeError:  # nested deeper than JSON can be written: keep the names only
        text = orjson.dumps(dict.fromkeys(dropped, "<too deep to keep>")).decode()
    return clip(text, limit)


def bounded_payload(payload: dict[str, Any], limit: int) -> str:
    """A refused row as the JSON a dead letter keeps: the row, or an excerpt past ``limit``.

    An excerpt is ``{"_excerpt": first characters, "_bytes": length of the whole row}``;
    it cannot be replayed (the row was cut), which `is_replayable` tells.
    """
    text = orjson.dumps(payload, default=str).decode()
    size = len(text.encode())
    if size <= limit:
        return text
    head = text.encode()[: limit // 2].decode(errors="ignore")  # escaping may double it
    return orjson.dumps({EXCERPT_KEY: head, BYTES_KEY: size}).decode()


def is_replayable(payload: dict[str, Any]) -> bool:
    """False for a dead letter that keeps an excerpt or lost dropped content."""
    return EXCERPT_KEY not in payload and DROPPED_KEY not in payload
