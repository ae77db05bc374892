"""aimc.system.cluster: the heterogeneous cluster of seed 001 (latency, energy, area).

- ``config``    ``ClusterConfig`` dataclass tree, TOML load/dump, operating points
- ``ima`` / ``dwa`` / ``cores``  block models: IMA jobs, depth-wise accelerator, software kernels
- ``tile_job``  IMA job latency/energy from a SPICE-fitted tile model
- ``tilepack``  TILE&PACK (Alg. 1) with rectpack
- ``model``     ``evaluate(network, config)`` -> ``NetworkResult``
"""
