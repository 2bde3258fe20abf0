"""Scenarios and household profiles share one YAML loader; each keeps its own sentences."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from p2penergy.energy import scenario as sc
from p2penergy.wallet import forecast as fc

CASES: list[tuple[str, bytes | None, str]] = [
    ("missing", None, "{missing}"),
    ("latin1", "name: Z\xfcrich\n".encode("latin-1"), "{path}{utf8} ("),
    ("broken", b"name: [unclosed\n", "{path}{yaml}"),
    ("list", b"- a\n- b\n", "{path}: a {what} is a YAML mapping"),
]
CALLERS: dict[str, tuple[Callable[[Path], Any], type[Exception], dict[str, str]]] = {
    "scenario": (
        sc.load,
        sc.ScenarioError,
        {
            "what": "scenario",
            "utf8": ": not UTF-8 text",
            "yaml": ": not valid YAML (",
            # a path that is no file is looked up among the shipped scenarios first
            "missing": "no scenario '{path}': give a YAML path or one of: berlin-june-measured",
        },
    ),
    "profile": (
        fc.load_profile,
        fc.ProfileError,
        {
            "what": "household profile",
            "utf8": " is not UTF-8 text",
            "yaml": " is not valid YAML: ",
            "missing": "cannot read the household profile {path}: No such file or directory",
        },
    ),
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("case", "content", "says"), CASES, ids=[c[0] for c in CASES])
def test_each_failure_is_the_callers_error_with_its_own_sentence(
    tmp_path: Path, caller: str, case: str, content: bytes | None, says: str
) -> None:
    load, error, words = CALLERS[caller]
    path = tmp_path / f"{case}.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error) as raised:
        load(path)
    expected = says.format(path=path, **words).format(path=path)
    assert str(raised.value).startswith(expected)
