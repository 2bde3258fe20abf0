"""brownie itself: its offline build (through the solc facade) deploys and reverts by error name."""

from __future__ import annotations

import brownie
import pytest


@pytest.fixture
def registry(ParticipantRegistry, accounts):
    # accounts[0] stands in for the governance timelock (the single default admin)
    return ParticipantRegistry.deploy(accounts[0], 1, [], {"from": accounts[0]})


def test_brownie_build_uses_the_pinned_compiler(ParticipantRegistry):
    build = ParticipantRegistry._build
    assert build["compiler"]["version"].startswith("0.8.28")
    assert build["compiler"]["evm_version"] == "cancun"


def test_brownie_deployed_registry_enforces_the_operator_role(registry, accounts):
    operator_role = registry.OPERATOR_ROLE()
    with brownie.reverts():
        registry.registerParticipant(accounts[2], 1, False, {"from": accounts[1]})
    registry.grantRole(operator_role, accounts[1], {"from": accounts[0]})
    tx = registry.registerParticipant(accounts[2], 1, False, {"from": accounts[1]})
    assert tx.events["ParticipantRegistered"]["account"] == accounts[2]
    assert registry.isActiveParticipant(accounts[2])


def test_brownie_reports_the_custom_error_by_name(registry, accounts):
    registry.grantRole(registry.OPERATOR_ROLE(), accounts[1], {"from": accounts[0]})
    registry.registerParticipant(accounts[2], 1, False, {"from": accounts[1]})
    with pytest.raises(brownie.exceptions.VirtualMachineError) as info:
        registry.registerParticipant(accounts[2], 1, False, {"from": accounts[1]})
    assert info.value.revert_msg == f"RegistryParticipantExists: {accounts[2].address.lower()}"


def test_deploy_script_deploys_and_wires_the_system(tmp_path, monkeypatch):
    from scripts import deploy

    monkeypatch.setattr(deploy, "DEPLOYMENTS", tmp_path)
    deployment = deploy.main()
    assert set(deployment.addresses) == {
        "Governance",
        "ParticipantRegistry",
        "CommunityCredit",
        "EnergyCertificate",
        "MeterReadings",
        "EnergyMarket",
    }
    assert (tmp_path / f"{deployment.chain_id}.json").is_file()
    registry = brownie.Contract.from_abi(
        "ParticipantRegistry",
        deployment.addresses["ParticipantRegistry"],
        brownie.project.get_loaded_projects()[0].ParticipantRegistry.abi,
    )
    assert registry.hasRole(registry.OPERATOR_ROLE(), deployment.admin)
