"""hypothesis strategies for fuzzing a plugin's parsers (needs ``hypothesis``: ``smsgate[test]``).

``json_values()`` draws nested JSON values (``keys`` for the object keys: a gateway's own field
names reach deeper into a parser than random text); ``json_bodies()`` the same, encoded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st


def json_values(keys: Sequence[str] | None = None, *, max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Nested lists and objects of null, booleans, integers, floats and short strings."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    names = st.sampled_from(list(keys)) if keys else st.text(max_size=8)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
        max_leaves=max_leaves,
    )


def json_bodies(keys: Sequence[str] | None = None, *, max_leaves: int = 20) -> st.SearchStrategy[bytes]:
    """:func:`json_values`, as UTF-8 JSON bytes."""
    return json_values(keys, max_leaves=max_leaves).map(lambda value: json.dumps(value).encode())
