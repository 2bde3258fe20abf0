"""EnergyCertificate client: a holder's certificates per slot (ERC-1155 id = slot), retiring."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3.types import TxReceipt

from p2penergy.chain.deploy import System
from p2penergy.chain.tx import call, transact


class CertificateClient:
    """Reads and retirements on the deployed EnergyCertificate."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.chain = system.chain
        self.contract = system.certificate

    def balance(self, holder: str, slot: int) -> int:
        return int(call(self.contract.functions.balanceOf(holder, slot)))

    def holdings(self, holder: str) -> dict[int, int]:
        """Wh held per slot, for every slot `holder` ever received certificates in."""
        start = self.system.deployment.blocks.get("EnergyCertificate", 0)
        logs = self.contract.events.TransferSingle().get_logs(
            from_block=start, argument_filters={"to": holder}
        )
        slots = sorted({int(log["args"]["id"]) for log in logs})
        held = {slot: self.balance(holder, slot) for slot in slots}
        return {slot: wh for slot, wh in held.items() if wh}

    def retired(self, holder: str) -> dict[int, int]:
        """Wh retired per slot by `holder`."""
        start = self.system.deployment.blocks.get("EnergyCertificate", 0)
        logs = self.contract.events.CertificateRetired().get_logs(
            from_block=start, argument_filters={"holder": holder}
        )
        result: dict[int, int] = {}
        for log in logs:
            slot = int(log["args"]["slot"])
            result[slot] = result.get(slot, 0) + int(log["args"]["energyWh"])
        return result

    def retire(self, holder: LocalAccount, slot: int, energy_wh: int) -> TxReceipt:
        fn = self.contract.functions.retire(slot, energy_wh)
        return transact(self.chain, holder, fn)
