"""A test-only FunctionApp exercising every trigger the local runtime serves: plain HTTP routes
(parameters, catch-all, precedence, binary bodies, failures, slow requests, a
queue output), an `operation` route, queue, timer and blob triggers. Functions record what
they received in EVENTS so tests can assert on it."""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict

import azure.functions as func

from functions.api import API_VERSIONS, Api, ApiRequest, operation

WORK_QUEUE = "rt-work"
DONE_QUEUE = "rt-done"
OUTPUT_QUEUE = "rt-http-out"
BLOB_CONTAINER = "rt-blobs"

EVENTS: dict[str, list] = defaultdict(list)
_lock = threading.Lock()
slow_started = threading.Event()
_meeting = threading.Barrier(2, timeout=10)


def record(kind: str, value) -> None:
    with _lock:
        EVENTS[kind].append(value)


def events(kind: str) -> list:
    with _lock:
        return list(EVENTS[kind])


app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
bp = func.Blueprint()


@app.route(route="echo/{id}/{*rest}", methods=["GET", "POST", "PUT"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_body()
    return func.HttpResponse(json.dumps({
        "method": req.method, "url": req.url, "route": dict(req.route_params),
        "params": dict(req.params), "custom": req.headers.get("x-custom"),
        "contentType": req.headers.get("content-type"), "length": len(body),
        "json": req.get_json() if req.headers.get("content-type") == "application/json"
        else None}), mimetype="application/json")


# Registered before the literal route below: precedence, not order, must pick the literal.
@app.route(route="things/{name}", methods=["GET"])
def thing_by_name(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"param:{req.route_params['name']}")


@app.route(route="things/latest", methods=["GET"])
def latest_thing(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("literal")


@app.route(route="files/{*path}", methods=["GET"])
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params.get("path", ""))


@app.route(route="binary", methods=["POST"])
def binary(req: func.HttpRequest) -> func.HttpResponse:
    """Answers the request body reversed, as application/octet-stream."""
    return func.HttpResponse(req.get_body()[::-1], mimetype="application/octet-stream",
                             headers={"X-Length": str(len(req.get_body()))})


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret detail that must not leak")


@app.route(route="slow", methods=["GET"])
def slow(req: func.HttpRequest) -> func.HttpResponse:
    slow_started.set()
    time.sleep(float(req.params.get("seconds", "1")))
    return func.HttpResponse("finished")


@app.route(route="rendezvous", methods=["GET"])
def rendezvous(req: func.HttpRequest) -> func.HttpResponse:
    """Answers only once two requests are inside at the same time (else 500 after 10 s)."""
    _meeting.wait()
    return func.HttpResponse("met")


@app.route(route="enqueue", methods=["POST"])
@app.queue_output(arg_name="out", queue_name=OUTPUT_QUEUE, connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(req.get_body().decode())
    return func.HttpResponse(status_code=202)


# Under this app's host.json routePrefix "face": /face/{apiVersion}/ping/{word}.
@operation(bp, "ping/{word}", ["GET"], api=Api("{apiVersion}/", API_VERSIONS))
def ping(req: ApiRequest) -> dict:
    return {"word": req.route["word"], "version": req.version}


@app.queue_trigger(arg_name="msg", queue_name=WORK_QUEUE, connection="AzureWebJobsStorage")
@app.queue_output(arg_name="done", queue_name=DONE_QUEUE, connection="AzureWebJobsStorage")
def work(msg: func.QueueMessage, done: func.Out[str]) -> None:
    """Body `{"id": ..., "succeedOnAttempt": n}`: fails before attempt n (0 = always fails)."""
    task = json.loads(msg.get_body())
    record("work", {"id": task["id"], "dequeue_count": msg.dequeue_count,
                    "message_id": msg.id, "pop_receipt": msg.pop_receipt,
                    "insertion_time": msg.insertion_time, "expiration_time": msg.expiration_time})
    wanted = task.get("succeedOnAttempt", 1)
    if wanted == 0 or msg.dequeue_count < wanted:
        raise RuntimeError(f"attempt {msg.dequeue_count} fails")
    done.set(json.dumps({"id": task["id"], "done": True}))


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer", run_on_startup=False,
                   use_monitor=False)
def every_second(timer: func.TimerRequest) -> None:
    record("every_second", {"past_due": timer.past_due})


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True,
                   use_monitor=False)
def on_startup(timer: func.TimerRequest) -> None:
    record("on_startup", {"past_due": timer.past_due})


@app.blob_trigger(arg_name="blob", path=BLOB_CONTAINER + "/{name}",
                  connection="AzureWebJobsStorage", source="EventGrid")
def on_blob(blob: func.InputStream) -> None:
    """Blobs named fail-* always fail (poison after maxDequeueCount attempts)."""
    record("blob", {"name": blob.name, "length": blob.length, "uri": blob.uri,
                    "content": blob.read()})
    if blob.name.startswith(f"{BLOB_CONTAINER}/fail-"):
        raise RuntimeError("this blob always fails")


app.register_functions(bp)
