"""Wallets of prosumers, consumers and the operator: keystores and the trading services."""
