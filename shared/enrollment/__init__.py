"""Batch enrollment: photos dropped into a blob container become persisted faces.

Layout: `<FACE_ENROLLMENT_CONTAINER>/<largePersonGroupId>/<person>/<image file>`. The person
folder is the person's external id: the person is found by it or created with it as name and
userData. Each blob is handled once by `enroll.enroll` (the blob-triggered function calls it),
which records an outcome per blob (`report`) and, after a new face, re-arms the group's
debounced training (`batches`). `python -m shared.enrollment.upload` uploads a local folder
tree in this layout."""
