"""Batch redaction (shared/redaction/batch does the work): a blob-triggered function per photo
or video dropped into `redaction-input`, writing `redaction-output/<name>` and its report."""
import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

from shared.redaction import batch

bp = func.Blueprint()


# The trigger binds a BlobClient (an SDK-type binding), not the content: the host would
# otherwise read a whole video into memory before the function starts. Event Grid source: the
# only blob trigger Flex Consumption supports (infra/eventgrid.bicep subscribes it by name).
@bp.blob_trigger(arg_name="client", path=batch.INPUT + "/{name}",
                 connection="AzureWebJobsStorage", source=func.BlobSource.EVENT_GRID)
def redact_blob(client: blob.BlobClient) -> None:
    batch.redact_blob(client.blob_name)
