"""aimc.system.studies: reproductions of the papers and studies over many configurations.

- ``paper``        published figures and the workloads they were measured on
- ``calibration``  the fit of the few cluster parameters no figure gives directly
- ``experiments``  reproductions (``aimc reproduce``)
- ``explore``      cluster design-space exploration (``aimc explore``)
"""
