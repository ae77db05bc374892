"""aimc.system.array: weight matrices on analog tiles, through the SPICE-fitted surrogates.

- ``layer``         ``AnalogLayer`` / ``ArrayConfig``: one weight matrix on tiles
- ``device_stats``  PCM programming noise, drift, read noise
- ``executor``      ``NetworkExecutor``: any supported ONNX network on the tiles, three paths
- ``im2col``        convolution / pooling windows (ONNX semantics)
- ``mapping``       where layers run (``Placement``, ``TilePlacement``, ``groups_per_matrix``)
- ``accuracy``      a network's accuracy on the ideal, quantised and analog paths, over time
  and device seeds (``aimc accuracy`` lives in ``aimc.system.netreport``)
"""
