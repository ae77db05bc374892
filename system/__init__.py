"""aimc.system: what the tiles do inside a network and a cluster.

- ``networks``  the layer IR (``Network``, ``Layer``), ONNX import, built-in networks
- ``array``     weight matrices on analog tiles through the surrogates: accuracy
- ``cluster``   the heterogeneous cluster of seed 001: latency, energy, area
- ``studies``   paper reproductions, calibration, design-space studies
- ``cli`` / ``report`` / ``demo``  the ``aimc`` command line, tables and plots, the main job
"""
