"""Reading a YAML file that must hold one mapping (scenarios, household profiles): the four ways
it can fail, each raised as the caller's own error type with the caller's own sentence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from p2penergy.exceptions import P2PEnergyError


@dataclass(frozen=True, slots=True)
class MappingMessages:
    """What the caller says for each failure; `{path}` and `{reason}` are filled in."""

    unreadable: str  # the file cannot be read (reason: the OS's words)
    not_utf8: str  # the bytes are not UTF-8 (reason: the codec's words)
    not_yaml: str  # the text is not YAML (reason: the parser's message)
    not_mapping: str  # the document is not a mapping


def load_mapping(
    path: Path, error: type[P2PEnergyError], messages: MappingMessages
) -> dict[str, Any]:
    """The mapping in the YAML file `path`; any failure is one `error` with its message."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise error(messages.unreadable.format(path=path, reason=exc.strerror)) from None
    except UnicodeDecodeError as exc:
        raise error(messages.not_utf8.format(path=path, reason=exc.reason)) from None
    except yaml.YAMLError as exc:
        raise error(messages.not_yaml.format(path=path, reason=exc)) from None
    if not isinstance(data, dict):
        raise error(messages.not_mapping.format(path=path))
    return data
