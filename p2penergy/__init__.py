"""p2penergy: peer-to-peer electricity trading on a permissioned EVM chain."""

__version__ = "0.1.0"
