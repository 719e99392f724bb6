"""Model files for the service: built by `python -m models.build` (see models/README.md)."""
