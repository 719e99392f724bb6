"""Domain code of the face service: settings, errors, inference, storage and the operations
behind the HTTP functions. Nothing here imports azure.functions or the `functions` package."""
