"""Storage repositories over Azure Tables, Blobs and Queues (Azurite locally)."""
