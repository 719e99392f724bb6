"""Batch enrollment (shared/enrollment does the work): a blob-triggered function per photo
dropped into the enrollment container, and the debounced training of the groups it filled."""
import json
import os

import azure.functions as func

from shared import settings
from shared.enrollment import batches, enroll

bp = func.Blueprint()

# The host resolves %FACE_ENROLLMENT_CONTAINER% from the environment; in Azure the app setting
# is always there, locally the declared default may be all there is.
os.environ.setdefault("FACE_ENROLLMENT_CONTAINER", settings.get("FACE_ENROLLMENT_CONTAINER"))


# Event Grid source: the only blob trigger Flex Consumption supports (infra/eventgrid.bicep
# subscribes this function by name).
@bp.blob_trigger(arg_name="blob", path="%FACE_ENROLLMENT_CONTAINER%/{name}",
                 connection="AzureWebJobsStorage", source=func.BlobSource.EVENT_GRID)
def enroll_blob(blob: func.InputStream) -> None:
    enroll.enroll(blob.name.split("/", 1)[1], blob.read())


@bp.queue_trigger(arg_name="msg", queue_name=batches.QUEUE, connection="AzureWebJobsStorage")
def enrollment_settled(msg: func.QueueMessage) -> None:
    batches.settle(json.loads(msg.get_body()))
