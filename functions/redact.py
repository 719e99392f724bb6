"""POST /redact/v1/image: the image (body bytes or JSON {"url"}) in its own format with every
detected face obscured. Query: method=blur|pixelate|fill, margin, minFaceSize. The number of
obscured faces is in the `x-redacted-faces` header."""
import azure.functions as func

from functions.api import REDACT, ApiRequest, Reply, operation
from functions.arguments import image_bytes
from shared.redaction import image, obscure
from shared.redaction.obscure import DEFAULT_MIN_FACE, MARGIN_RANGE, MIN_FACE_RANGE, RedactOptions

bp = func.Blueprint()


def _options(req: ApiRequest) -> RedactOptions:
    return RedactOptions(
        method=obscure.method(req.query("method")),
        margin=req.query_float("margin", RedactOptions.margin, *MARGIN_RANGE),
        min_face=req.query_int("minFaceSize", DEFAULT_MIN_FACE, *MIN_FACE_RANGE))


@operation(bp, "image", ["POST"], api=REDACT)
def redact_image(req: ApiRequest) -> Reply:
    options = _options(req)
    redacted = image.redact_image(image_bytes(req.body_bytes(), req.content_type()), options)
    return Reply(redacted.data, media_type=redacted.media_type,
                 headers={"x-redacted-faces": str(len(redacted.boxes))})
