"""The author guide's excerpts of the example plugin are verbatim: each block marked
``<!-- not-run: the example plugin's PATH ... -->`` appears in core/tests/example_plugin/PATH,
whose contract suite runs in core/tests/test_contract_mutants.py. So those samples run too."""

from __future__ import annotations

import re

import pytest
from docs_samples import all_samples
from ecosystem import ROOT

EXAMPLE = ROOT / "core" / "tests" / "example_plugin"
_MARK = re.compile(r"not-run: the example plugin's (?P<path>\S+)")
EXCERPTS = [s for s in all_samples() if s.marker and _MARK.search(s.marker)]


def test_the_guide_has_excerpts() -> None:
    assert len(EXCERPTS) >= 6


@pytest.mark.parametrize("sample", EXCERPTS, ids=[f"{s.path.name}:{s.line}" for s in EXCERPTS])
def test_excerpt_is_in_the_example_plugin(sample: object) -> None:
    match = _MARK.search(sample.marker)  # type: ignore[attr-defined]
    assert match is not None
    source = (EXAMPLE / match["path"]).read_text("utf-8")
    code = sample.code  # type: ignore[attr-defined]
    assert code.strip() in source, f"{sample.path.name}:{sample.line} is not in {match['path']}"  # type: ignore[attr-defined]
