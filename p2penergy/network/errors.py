"""Errors of the network tooling: bad `network init` input and faults while syncing allowlists.

Each class names the exit code the CLI documents for it, so scripts can tell a typo from a node
that is down from a node that was started without the PERM API. A node that does not answer or
serves another chain raises `p2penergy.exceptions.NodeUnreachable` / `WrongChain` (exit 3).
"""

from __future__ import annotations

from p2penergy.exceptions import P2PEnergyError


class NetworkError(P2PEnergyError):
    """A network operation cannot go ahead; the message says what to do instead."""

    exit_code = 1


class InvalidNetworkInput(NetworkError, ValueError):
    """A `network init` argument is out of range or a file it reads is malformed."""

    exit_code = 2


class OutputNotEmpty(NetworkError, FileExistsError):
    """The output folder already holds files and --force was not given."""

    exit_code = 6


class OutputNotWritable(NetworkError, PermissionError):
    """The output folder cannot be created or written."""

    exit_code = 7


class PermApiDisabled(NetworkError):
    """The node does not serve the PERM methods, or its account allowlist is not enabled."""

    exit_code = 8

    def __init__(self, url: str, method: str, code: int) -> None:
        self.url = url
        self.method = method
        self.code = code
        super().__init__(
            f"node at {url} refused {method} (JSON-RPC error {code}): start it with PERM in "
            "rpc-http-api and permissions-accounts-config-file-enabled=true"
        )


class AddressBookMismatch(NetworkError):
    """The address book does not describe the chain the node serves (no registry there, no
    address book for its chain id, or a chain that went back: it was reset)."""

    exit_code = 9


class PermRequestFailed(NetworkError):
    """A node answered a PERM change with an error (invalid or concurrent edit)."""

    exit_code = 10

    def __init__(self, url: str, method: str, code: int, message: str) -> None:
        self.url = url
        self.method = method
        self.code = code
        super().__init__(f"node at {url} refused {method}: {message} (JSON-RPC error {code})")
