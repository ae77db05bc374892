"""aimc.system: array and cluster simulators, networks, reports, CLI."""
