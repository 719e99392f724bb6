"""Queue-triggered training of collections (shared/collections/training.py does the work):
one function for the job steps, one for messages that failed every delivery."""
import json

import azure.functions as func

from shared.collections import training

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name=training.QUEUE, connection="AzureWebJobsStorage")
def collection_training(msg: func.QueueMessage) -> None:
    training.process(json.loads(msg.get_body()))


@bp.queue_trigger(arg_name="msg", queue_name=training.POISON_QUEUE,
                  connection="AzureWebJobsStorage")
def collection_training_poison(msg: func.QueueMessage) -> None:
    training.process_poison(json.loads(msg.get_body()))
