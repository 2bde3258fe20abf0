"""Typed clients for the deployed contracts (web3.py underneath; reverts decoded by name)."""
