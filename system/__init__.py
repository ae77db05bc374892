"""aimc.system: array and cluster simulators, networks, reports, CLI.

Cluster level (seed 001, Garofalo et al.):

- ``network``      layer IR (``Layer``, ``Network``)
- ``mobilenetv2``  built-in MobileNetV2 from its published architecture table
- ``onnx_import``  ONNX graphs -> ``Network`` (``load_onnx``)
- ``config``       ``ClusterConfig`` dataclass tree, TOML load/dump, operating points
- ``ima`` / ``dwa`` / ``cores``  block models (IMA jobs and ``ImaJobModel``, depth-wise
  accelerator, software kernels)
- ``tilepack``     TILE&PACK (Alg. 1) with rectpack
- ``cluster``      ``evaluate(network, config)`` -> ``NetworkResult``
- ``paper`` / ``calibration`` / ``experiments``  published figures, the fit, reproductions
- ``dse``          design-space sweeps; ``report`` tables and plots; ``cli`` the ``aimc`` CLI
"""
