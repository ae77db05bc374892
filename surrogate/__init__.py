"""aimc.surrogate: fitting, evaluation and validation of surrogate models."""
