"""The `p2penergy` command."""
