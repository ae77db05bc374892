"""aimc.system.networks: the layer IR, ONNX import and the built-in networks.

- ``graph``          ``Layer`` / ``Network`` and layer kinds
- ``onnx_import``    ONNX graphs -> ``Network`` (``load_onnx``)
- ``onnx_examples``  small ONNX graph builders (ResNet-50 topology, test graphs)
- ``mobilenetv2``    MobileNetV2 from its published architecture table
- ``digits_mlp``     the digits MLP and its data
"""
