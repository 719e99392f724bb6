"""Timer: delete expired faceIds, with their embeddings, from the cache every minute (they are
already invisible to lookups)."""
import logging

import azure.functions as func

from shared.storage.face_ids import default_store

bp = func.Blueprint()
log = logging.getLogger("face.purge")


@bp.timer_trigger(schedule="0 * * * * *", arg_name="timer", run_on_startup=False,
                  use_monitor=False)
def face_id_purge(timer: func.TimerRequest) -> None:
    deleted = default_store().purge_expired()
    log.info("purged %d expired faceIds", deleted)
