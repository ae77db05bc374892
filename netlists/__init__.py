"""aimc.netlists: sweep specs, reference netlists and generic model cards (data)."""
