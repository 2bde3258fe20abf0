"""brownie script: deploy and wire the p2penergy system on the active brownie network.

    brownie run scripts/deploy.py            # default network: hardhat on 127.0.0.1:8545

The deployment itself is `p2penergy.chain.deploy.deploy_system` (the same code the CLI and the
tests use); this script only connects it to brownie's node and writes the address book to
deployments/<chainId>.json.
"""

from pathlib import Path

from brownie import network, web3

from p2penergy.chain.connect import rpc
from p2penergy.chain.deploy import deploy_system

DEPLOYMENTS = Path(__file__).resolve().parent.parent / "deployments"


def main():
    chain = rpc(web3.provider.endpoint_uri)
    if not chain.faucet:
        raise SystemExit(
            f"{network.show_active()}: no development keys; use `p2penergy admin deploy`"
        )
    system = deploy_system(chain, chain.faucet[0])
    path = system.deployment.save(DEPLOYMENTS)
    for name, address in system.deployment.addresses.items():
        print(f"{name:22} {address}  gas {system.deployment.gas_used[name]:,}")
    print(f"address book: {path}")
    return system.deployment
