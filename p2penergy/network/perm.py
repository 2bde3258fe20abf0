"""A Besu node's PERM JSON-RPC methods for the accounts allowlist (local permissioning).

`perm_getAccountsAllowlist` → list of addresses; `perm_addAccountsToAllowlist([[...]])` and
`perm_removeAccountsFromAllowlist([[...]])` → "Success" (Besu's private-network API reference).
Besu answers a method of an API it was not started with by -32604 "Method not enabled" (-32601
for an unknown method), and the allowlist reads by -32000 when account permissioning is off.
"""

from __future__ import annotations

import itertools
from typing import Any

import requests
from eth_utils.address import is_address, to_checksum_address

from p2penergy.exceptions import NodeUnreachable
from p2penergy.network.errors import PermApiDisabled, PermRequestFailed

GET_ACCOUNTS = "perm_getAccountsAllowlist"
ADD_ACCOUNTS = "perm_addAccountsToAllowlist"
REMOVE_ACCOUNTS = "perm_removeAccountsFromAllowlist"
METHOD_NOT_FOUND = -32601
METHOD_NOT_ENABLED = -32604
ALLOWLIST_NOT_ENABLED = -32000  # the only error Besu documents for perm_getAccountsAllowlist
DEFAULT_TIMEOUT = 10.0


class PermNode:
    """The PERM interface of one node, at `url`."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._session = requests.Session()

    def accounts(self) -> set[str]:
        """The node's accounts allowlist (checksummed)."""
        result = self._call(GET_ACCOUNTS, [])
        if not isinstance(result, list) or not all(
            isinstance(a, str) and is_address(a) for a in result
        ):
            raise NodeUnreachable(self.url, f"{GET_ACCOUNTS} answered {result!r}")
        return {str(to_checksum_address(a)) for a in result}

    def add(self, accounts: list[str]) -> None:
        """Adds `accounts` (none of which may be listed already)."""
        if accounts:
            self._change(ADD_ACCOUNTS, accounts)

    def remove(self, accounts: list[str]) -> None:
        """Removes `accounts` (all of which must be listed)."""
        if accounts:
            self._change(REMOVE_ACCOUNTS, accounts)

    def _change(self, method: str, accounts: list[str]) -> None:
        result = self._call(method, [sorted(accounts)])
        if result != "Success":
            raise PermRequestFailed(self.url, method, 0, f"unexpected answer {result!r}")

    def _call(self, method: str, params: list[Any]) -> Any:
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            response = self._session.post(self.url, json=payload, timeout=self.timeout)
            body = response.json()
        except requests.RequestException as exc:
            raise NodeUnreachable(self.url, type(exc).__name__) from None
        except ValueError:
            raise NodeUnreachable(self.url, f"HTTP {response.status_code}, not JSON-RPC") from None
        if not isinstance(body, dict):
            raise NodeUnreachable(self.url, "not a JSON-RPC answer")
        error = body.get("error")
        if error is None:
            return body.get("result")
        code = int(error.get("code", 0)) if isinstance(error, dict) else 0
        message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
        if code in (METHOD_NOT_FOUND, METHOD_NOT_ENABLED) or (
            method == GET_ACCOUNTS and code == ALLOWLIST_NOT_ENABLED
        ):
            raise PermApiDisabled(self.url, method, code)
        raise PermRequestFailed(self.url, method, code, message)
