"""aimc.circuits.sweep: sweeps of the generators into crash-safe HDF5 files.

- ``spec``     TOML sweep specs: dataclasses, validation, point sampling
- ``targets``  generator name -> point function with declared parameters
- ``store``    the HDF5 layout, crash-safe appends, resume, reader
- ``run``      local process pool or Dask cluster
- ``worker``   one point in an isolated process
- ``cli``      ``aimc sweep``
"""
