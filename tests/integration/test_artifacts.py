"""The artifacts shipped in the package are exactly what the pinned compiler produces now."""

from __future__ import annotations

from p2penergy.chain import artifacts, toolchain
from p2penergy.chain.compile import compile_contracts, render


def test_recompiling_gives_byte_identical_artifacts():
    fresh = compile_contracts()
    assert sorted(fresh) == artifacts.names()
    for name, artifact in fresh.items():
        shipped = (artifacts.ARTIFACTS_DIR / f"{name}.json").read_text()
        assert render(artifact) == shipped, f"{name} differs: run `p2penergy compile`"


def test_artifacts_record_the_pinned_compiler_and_evm_version():
    for name in artifacts.names():
        compiler = artifacts.load(name)["compiler"]
        assert compiler["version"].startswith(toolchain.SOLC_VERSION + "+")
        assert compiler["evmVersion"] == toolchain.EVM_VERSION


def test_compiler_in_use_reports_the_pinned_version():
    assert toolchain.check_version(toolchain.solc_binary()).startswith(toolchain.SOLC_VERSION)
