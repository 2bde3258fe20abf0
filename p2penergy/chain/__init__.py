"""Chain access: compiler, artifacts, connections, deployment and the address book."""
