"""Domain code of the face service: settings, errors, inference, storage and the operations
behind the HTTP functions. Nothing here imports azure.functions, except `shared.runtime`, which
emulates the Functions host for local runs."""
