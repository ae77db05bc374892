"""aimc.system.array: weight matrices on analog tiles, through the SPICE-fitted surrogates.

- ``layer``         ``AnalogLayer`` / ``ArrayConfig``: one weight matrix on tiles
- ``device_stats``  PCM programming noise, drift, read noise
- ``accuracy``      a network's accuracy on the ideal, quantised and analog paths
- ``cli``           ``aimc accuracy``
"""
