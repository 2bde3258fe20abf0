"""CommunityCredit client: balances, EIP-2612 permits, the operator's mint, holders' redemptions.

There is no operator burn: credits leave an account only by its holder's own `redeem`, or a
`redeem_from` spending an allowance or permit the holder gave.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from p2penergy.chain.deploy import System
from p2penergy.chain.tx import call, transact


def payment_ref(text: str) -> bytes:
    """A bytes32 payment reference: `0x` + 64 hex digits as is, else UTF-8 text (≤ 32 bytes)."""
    raw = text.strip()
    if raw.startswith("0x") and len(raw) == 66:
        return bytes.fromhex(raw[2:])
    data = raw.encode()
    if not data or len(data) > 32:
        raise ValueError("a payment reference is 1 to 32 bytes of text (or 0x + 64 hex digits)")
    return data.ljust(32, b"\0")


def describe_ref(ref: bytes) -> str:
    """A payment reference as people wrote it: its text when it is text, else `0x` + hex."""
    text = ref.rstrip(b"\0")
    try:
        decoded = text.decode()
    except UnicodeDecodeError:
        decoded = ""
    if decoded and decoded.isprintable():
        return repr(decoded)
    return "0x" + ref.hex()


class CreditClient:
    """Operations on the deployed CommunityCredit token."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.chain = system.chain
        self.contract = system.credit
        self._domain: dict[str, Any] | None = None

    def domain(self) -> dict[str, Any]:
        """The token's EIP-712 domain, read once: its name, version and address are fixed at
        deployment, and a connection's chain id does not change (see `chain.connect`)."""
        if self._domain is None:
            _, name, version, chain_id, verifying, _, _ = call(
                self.contract.functions.eip712Domain()
            )
            self._domain = {
                "name": name,
                "version": version,
                "chainId": int(chain_id),
                "verifyingContract": verifying,
            }
        return self._domain

    def balance(self, address: str) -> int:
        return int(call(self.contract.functions.balanceOf(address)))

    def allowance(self, owner: str, spender: str) -> int:
        return int(call(self.contract.functions.allowance(owner, spender)))

    def mint(self, operator: LocalAccount, account: str, amount: int, ref: bytes) -> TxReceipt:
        return transact(self.chain, operator, self.contract.functions.mint(account, amount, ref))

    def redeem(self, holder: LocalAccount, amount: int, ref: bytes) -> TxReceipt:
        """Burns `amount` of `holder`'s own credits for the fiat withdrawal `ref`."""
        return transact(self.chain, holder, self.contract.functions.redeem(amount, ref))

    def redeem_from(
        self, spender: LocalAccount, account: str, amount: int, ref: bytes
    ) -> TxReceipt:
        """Burns `amount` of `account`'s credits, spending the allowance it gave `spender`."""
        fn = self.contract.functions.redeemFrom(account, amount, ref)
        return transact(self.chain, spender, fn)

    def mint_limit(self) -> int:
        """The most base units one mint may create (a deployment parameter)."""
        return int(call(self.contract.functions.mintLimit()))

    def reference_used(self, ref: bytes) -> bool:
        """Whether payment reference `ref` was already used by a mint or a redemption."""
        return bool(call(self.contract.functions.referenceUsed(ref)))

    def sign_permit(
        self, owner: LocalAccount, spender: str, value: int, deadline: int
    ) -> tuple[int, bytes, bytes]:
        """An EIP-2612 permit signature (v, r, s) for `spender` to take `value` until `deadline`."""
        nonce = int(call(self.contract.functions.nonces(owner.address)))
        message: dict[str, Any] = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Permit": [
                    {"name": "owner", "type": "address"},
                    {"name": "spender", "type": "address"},
                    {"name": "value", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "Permit",
            "domain": dict(self.domain()),
            "message": {
                "owner": owner.address,
                "spender": spender,
                "value": value,
                "nonce": nonce,
                "deadline": deadline,
            },
        }
        signed = Account.sign_typed_data(owner.key, full_message=message)
        return int(signed.v), signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
