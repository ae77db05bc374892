"""aimc.circuits: PySpice generators for AIMC tile blocks and the ngspice runner."""
