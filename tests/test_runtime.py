"""The local Functions runtime (`devhost`) against a real Azurite: HTTP routing and
envelopes, queue, timer and blob triggers with the host's semantics, graceful shutdown, the
command line, and the metadata the azure-functions library generates for the real app."""
from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime

import azure.functions as func
import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from devhost import LocalHost
from devhost.azurite import free_port
from devhost.hostconfig import HostConfig, parse_timespan
from devhost.http_server import resolve
from devhost.registry import function_metadata
from devhost.routing import RouteTemplate
from devhost.timers import Schedule
from tests.apps import runtime_app
from tests.conftest import ROOT, TEST_KEY

KEY = {"Ocp-Apim-Subscription-Key": TEST_KEY}
POLL = 0.2   # blob listing interval in these tests
# Fast retries: failed messages are visible again at once; three attempts before poison.
TEST_HOST_JSON = {
    "version": "2.0",
    "extensions": {
        "http": {"routePrefix": "face"},
        "queues": {"maxPollingInterval": "00:00:00.200", "visibilityTimeout": "00:00:00",
                   "batchSize": 4, "newBatchThreshold": 2, "maxDequeueCount": 3,
                   "messageEncoding": "base64"},
    },
}


def wait_until(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def events_for(kind: str, key: str, value) -> list:
    return [event for event in runtime_app.events(kind) if event[key] == value]


def assert_envelope(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response.headers["x-ms-error-code"] == code
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    return body


@pytest.fixture(scope="module")
def host_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("runtime") / "host.json"
    path.write_text(json.dumps(TEST_HOST_JSON))
    return path


@pytest.fixture
def test_app_host(azurite, host_json):
    with LocalHost(runtime_app.app, host_json, port=0, stop_timeout=10,
                   blob_poll_interval=POLL) as host:
        yield host


@pytest.fixture(scope="module")
def real_app_host(azurite):
    import function_app   # only now: the azurite fixture has set the settings
    with LocalHost(function_app.app, ROOT / "host.json", port=0, stop_timeout=10) as host:
        yield host


def raw_queue(azurite, name: str) -> QueueClient:
    """A client without encode/decode policies: it sees the text exactly as stored."""
    return QueueClient.from_connection_string(azurite.connection_string, name)


def base64_queue(azurite, name: str) -> QueueClient:
    """Encodes like the real host expects (messageEncoding base64)."""
    return QueueClient.from_connection_string(azurite.connection_string, name,
                                              message_encode_policy=TextBase64EncodePolicy())


def take_raw_message(azurite, queue: str, predicate, timeout: float = 10.0) -> str:
    """Receive until a message whose raw content satisfies `predicate`; delete and return it."""
    client = raw_queue(azurite, queue)

    def find():
        try:
            messages = list(client.receive_messages(messages_per_page=32, visibility_timeout=1))
        except ResourceNotFoundError:
            return None   # the runtime creates the queue on first use
        for message in messages:
            if predicate(message.content):
                client.delete_message(message)
                return message.content
        return None
    return wait_until(find, timeout)


def b64_json(text: str) -> dict:
    return json.loads(base64.b64decode(text))


def has_id(task_id: str):
    def check(content: str) -> bool:
        try:
            return b64_json(content).get("id") == task_id
        except ValueError:
            return False
    return check


# ---------------------------------------------------------------- pure logic


def test_route_templates_and_precedence():
    assert RouteTemplate("face/{v}/items/{id}").match("/FACE/v1/Items/7/") == \
        {"v": "v1", "id": "7"}
    assert RouteTemplate("f/{*rest}").match("f/x%20y/z") == {"rest": "x y/z"}
    assert RouteTemplate("f/{*rest}").match("f") == {}
    assert RouteTemplate("a/b").match("a/b/c") is None
    assert RouteTemplate("a/{b}").match("a") is None
    assert RouteTemplate("a/{b?}").match("a") == {} and RouteTemplate("a/{b?}").match("a/c") == {"b": "c"}
    site_root = RouteTemplate("{root:maxlength(0)?}")
    assert site_root.match("/") == {} and site_root.match("/x") is None
    for unsupported in ("a/{x:int}", "a/{b=dflt}", "f/{name}.{ext}", "{*rest}/a"):
        with pytest.raises(ValueError):
            RouteTemplate(unsupported)
    ordered = sorted(["{*all}", "{v}/{id}", "{v}/health"],
                     key=lambda t: RouteTemplate(t).precedence)
    assert ordered == ["{v}/health", "{v}/{id}", "{*all}"]


def test_ncrontab_schedules():
    start = datetime(2026, 11, 21, 10, 3, 7)   # a Saturday
    assert Schedule.parse("0 */5 * * * *").next_after(start) == datetime(2026, 11, 21, 10, 5)
    assert Schedule.parse("*/2 * * * * *").next_after(start) == datetime(2026, 11, 21, 10, 3, 8)
    assert Schedule.parse("0 30 9 * * 1-5").next_after(start) == datetime(2026, 11, 23, 9, 30)
    assert Schedule.parse("0 0 8,20 * * *").next_after(start) == datetime(2026, 11, 21, 20)
    assert Schedule.parse("0 0 0 29 Feb *").next_after(start) == datetime(2028, 2, 29)
    for bad in ("* * * *", "61 * * * * *", "0 0 0 30 2 *"):
        with pytest.raises(ValueError):
            Schedule.parse(bad).next_after(start)


def test_host_json_queue_options(host_json):
    assert parse_timespan("00:01:30.5") == 90.5 and parse_timespan("1.00:00:00") == 86400
    project = HostConfig.load(ROOT / "host.json")
    assert project.route_prefix == ""    # each Api in functions/api.py carries its own prefix
    assert project.queues.message_encoding == "base64" and project.queues.max_dequeue_count == 5
    test = HostConfig.load(host_json)
    assert (test.queues.max_polling_interval, test.queues.batch_size,
            test.queues.new_batch_threshold) == (0.2, 4, 2)


# ---------------------------------------------------------------- the real function app


def test_generated_metadata_is_valid_and_matches_served_routes(real_app_host):
    import function_app
    metadata = function_metadata(function_app.app)
    assert metadata
    expected_routes = {}
    for name, function_json in metadata.items():
        triggers = [b for b in function_json["bindings"] if b["type"].endswith("Trigger")]
        assert len(triggers) == 1, name
        trigger = triggers[0]
        if trigger["type"] == "httpTrigger":
            assert trigger["authLevel"] == "ANONYMOUS", name
            assert trigger["route"] and trigger["methods"], name
            # host.json has no routePrefix: each route carries its own (face/, redact/).
            expected_routes[name] = (trigger["route"],
                                     frozenset(m.upper() for m in trigger["methods"]))
    served = {r.entry.name: (r.template.template, r.methods) for r in real_app_host.http.routes}
    assert served == expected_routes
    served_triggers = {e.name for e in real_app_host.functions}
    assert served_triggers == set(metadata)
    health = resolve(real_app_host.http.routes, "GET", "/face/v1.2/health")
    assert health.route.entry.name == "health_check" and health.params == {"apiVersion": "v1.2"}
    assert resolve(real_app_host.http.routes, "GET", "/face/v1.2/no/such").route.entry.name \
        == "not_found"
    assert resolve(real_app_host.http.routes, "POST", "/redact/v1/image").route.entry.name \
        == "redact_image"
    assert resolve(real_app_host.http.routes, "GET", "/").route.entry.name == "studio_home"
    assert resolve(real_app_host.http.routes, "GET", "/studio/js/main.js").route.entry.name \
        == "studio_files"
    assert resolve(real_app_host.http.routes, "GET", "/elsewhere").route is None


def test_indexing_leaves_the_apps_own_get_functions_usable(azurite, host_json):
    """Hosts may be created many times in one process, and others (tests/test_infra.py) may
    still call `app.get_functions()` once, as the worker does."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    app.register_functions(runtime_app.bp)
    for _ in range(2):
        with LocalHost(app, host_json, port=0) as host:
            assert [e.name for e in host.functions] == ["ping"]
    assert [fn.get_function_name() for fn in app.get_functions()] == ["ping"]


@pytest.mark.parametrize("version", ["v1.0", "v1.2", "v1.2-preview.1"])
def test_real_app_health_under_each_api_version(real_app_host, version):
    response = requests.get(f"{real_app_host.url}/face/{version}/health", headers=KEY,
                            timeout=30)
    # 503 while the models are not built: assert on the shape, not on "healthy".
    assert response.status_code in (200, 503)
    assert response.headers["apim-request-id"]
    assert {"status", "storage", "models"} <= set(response.json())
    assert response.json()["storage"]["reachable"] is True


def test_real_app_error_envelopes(real_app_host):
    base = f"{real_app_host.url}/face"
    assert_envelope(requests.get(f"{base}/v1.2/health", timeout=10), 401, "401")
    assert_envelope(requests.get(f"{base}/v1.2/health", timeout=10,
                                 headers={"Ocp-Apim-Subscription-Key": "wrong"}), 401, "401")
    assert_envelope(requests.get(f"{base}/v9.9/health", headers=KEY, timeout=10), 404, "404")
    assert_envelope(requests.get(f"{base}/v1.2/no/such/thing", headers=KEY, timeout=10),
                    404, "404")
    assert_envelope(requests.get(f"{real_app_host.url}/elsewhere", timeout=10), 404, "404")
    assert_envelope(requests.options(f"{base}/v1.2/health", timeout=10), 405, "405")


# ---------------------------------------------------------------- HTTP on the test app


def test_route_parameters_query_and_headers(test_app_host):
    url = f"{test_app_host.url}/face"
    reply = requests.get(f"{url}/echo/42?a=1&a=2&b=", headers={"X-Custom": "yes"},
                         timeout=10).json()
    assert reply["route"] == {"id": "42"} and reply["method"] == "GET"
    assert reply["params"] == {"a": "1,2", "b": ""} and reply["custom"] == "yes"
    assert reply["url"] == f"{url}/echo/42?a=1&a=2&b="
    assert requests.get(f"{url}/echo/42/more", timeout=10).json()["route"] == \
        {"id": "42", "rest": "more"}
    assert requests.get(f"{url}/things/latest", timeout=10).text == "literal"
    assert requests.get(f"{url}/THINGS/other", timeout=10).text == "param:other"
    assert requests.get(f"{url}/files/a/b%20c/d.txt", timeout=10).text == "a/b c/d.txt"
    ping = requests.get(f"{url}/v1.2-preview.1/ping/hello", headers=KEY, timeout=10)
    assert ping.json() == {"word": "hello", "version": "v1.2-preview.1"}


def test_json_binary_and_chunked_bodies(test_app_host):
    url = f"{test_app_host.url}/face"
    reply = requests.post(f"{url}/echo/1", json={"x": [1, 2]}, timeout=10).json()
    assert reply["json"] == {"x": [1, 2]} and reply["contentType"] == "application/json"
    payload = os.urandom(70_000)
    binary = requests.post(f"{url}/binary", data=payload, timeout=10,
                           headers={"Content-Type": "application/octet-stream"})
    assert binary.content == payload[::-1]
    assert binary.headers["Content-Type"] == "application/octet-stream"
    assert binary.headers["X-Length"] == "70000"
    chunked = requests.post(f"{url}/binary", data=iter([b"abc", b"", b"def"]), timeout=10)
    assert chunked.content == b"fedcba"
    text = requests.get(f"{url}/things/latest", timeout=10)
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_error_envelopes_on_the_test_app(test_app_host):
    url = f"{test_app_host.url}/face"
    assert_envelope(requests.get(f"{url}/nowhere", timeout=10), 404, "404")
    assert_envelope(requests.delete(f"{url}/echo/1", timeout=10), 405, "405")
    failed = requests.get(f"{url}/boom", timeout=10)
    assert_envelope(failed, 500, "InternalServerError")
    assert "secret" not in failed.text and "Traceback" not in failed.text
    assert_envelope(requests.get(f"{url}/v1.2/ping/x", timeout=10), 401, "401")
    assert_envelope(requests.get(f"{url}/v1.2/ping/x", timeout=10,
                                 headers={"Ocp-Apim-Subscription-Key": "nope"}), 401, "401")


def test_requests_are_served_concurrently(test_app_host):
    """`rendezvous` answers only when two requests are inside it at the same time."""
    url = f"{test_app_host.url}/face/rendezvous"
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(requests.get(url, timeout=20)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.text for r in replies] == ["met", "met"]


def test_keep_alive_connection_serves_several_requests(test_app_host):
    """HTTP/1.1: one connection, several requests, even after an error with an unread body."""
    connection = http.client.HTTPConnection(*test_app_host.http.server.server_address[:2],
                                            timeout=10)
    try:
        connection.request("POST", "/face/nowhere", body=b"x" * 5000)
        assert connection.getresponse().read() and connection.sock
        local_address = connection.sock.getsockname()
        connection.request("GET", "/face/things/latest")
        assert connection.getresponse().read() == b"literal"
        assert connection.sock.getsockname() == local_address
    finally:
        connection.close()


def test_http_queue_output_is_written_base64(test_app_host, azurite):
    text = f"hello {uuid.uuid4()}"
    response = requests.post(f"{test_app_host.url}/face/enqueue", data=text.encode(), timeout=10)
    assert response.status_code == 202
    raw = take_raw_message(azurite, runtime_app.OUTPUT_QUEUE,
                           lambda c: c == base64.b64encode(text.encode()).decode())
    assert base64.b64decode(raw).decode() == text


# ---------------------------------------------------------------- queue trigger


def test_queue_trigger_reads_host_encoded_messages(test_app_host, azurite):
    task_id = str(uuid.uuid4())
    base64_queue(azurite, runtime_app.WORK_QUEUE).send_message(json.dumps({"id": task_id}))
    [event] = wait_until(lambda: events_for("work", "id", task_id))
    assert event["dequeue_count"] == 1 and event["message_id"] and event["pop_receipt"]
    assert event["insertion_time"] < event["expiration_time"]
    done = take_raw_message(azurite, runtime_app.DONE_QUEUE, has_id(task_id))
    assert b64_json(done) == {"id": task_id, "done": True}   # the output is base64 too


def test_queue_trigger_retries_with_rising_dequeue_count(test_app_host, azurite):
    task_id = str(uuid.uuid4())
    base64_queue(azurite, runtime_app.WORK_QUEUE).send_message(
        json.dumps({"id": task_id, "succeedOnAttempt": 3}))
    take_raw_message(azurite, runtime_app.DONE_QUEUE, has_id(task_id))
    assert [e["dequeue_count"] for e in events_for("work", "id", task_id)] == [1, 2, 3]


def test_queue_poison_after_max_dequeue_count(test_app_host, azurite):
    task_id = str(uuid.uuid4())
    body = json.dumps({"id": task_id, "succeedOnAttempt": 0})
    raw_queue(azurite, runtime_app.WORK_QUEUE).send_message(base64.b64encode(body.encode())
                                                             .decode())
    poisoned = take_raw_message(azurite, f"{runtime_app.WORK_QUEUE}-poison", has_id(task_id))
    assert base64.b64decode(poisoned).decode() == body
    assert [e["dequeue_count"] for e in events_for("work", "id", task_id)] == [1, 2, 3]


def test_message_that_is_not_base64_goes_to_poison_at_once(test_app_host, azurite):
    """As the host does (MessageDecodingFailed): e.g. a message sent without
    TextBase64EncodePolicy. The function never runs; the text is kept as it was."""
    task_id = str(uuid.uuid4())
    body = json.dumps({"id": task_id})
    raw_queue(azurite, runtime_app.WORK_QUEUE).send_message(body)
    take_raw_message(azurite, f"{runtime_app.WORK_QUEUE}-poison", lambda c: c == body)
    assert events_for("work", "id", task_id) == []


# ---------------------------------------------------------------- timer trigger


def test_timer_triggers_fire(test_app_host):
    before = len(runtime_app.events("every_second"))
    wait_until(lambda: len(runtime_app.events("every_second")) > before, timeout=5)
    startup = wait_until(lambda: runtime_app.events("on_startup"), timeout=5)
    assert startup[-1] == {"past_due": False}


# ---------------------------------------------------------------- blob trigger


def upload(azurite, name: str, data: bytes) -> None:
    BlobServiceClient.from_connection_string(azurite.connection_string).get_blob_client(
        runtime_app.BLOB_CONTAINER, name).upload_blob(data, overwrite=True)


def test_blob_trigger_fires_once_per_version_across_restarts(azurite, host_json):
    name = f"photo-{uuid.uuid4()}.txt"
    blob_events = lambda: events_for("blob", "name", f"{runtime_app.BLOB_CONTAINER}/{name}")
    with LocalHost(runtime_app.app, host_json, port=0, blob_poll_interval=POLL):
        upload(azurite, name, b"first")
        [event] = wait_until(blob_events)
        assert event["content"] == b"first" and event["length"] == 5
        assert event["uri"].endswith(f"/{runtime_app.BLOB_CONTAINER}/{name}")
        time.sleep(5 * POLL)
        assert len(blob_events()) == 1
    with LocalHost(runtime_app.app, host_json, port=0, blob_poll_interval=POLL):
        time.sleep(5 * POLL)   # receipts in storage: the new host does not run it again
        assert len(blob_events()) == 1
        upload(azurite, name, b"second!")
        wait_until(lambda: len(blob_events()) == 2)
        assert blob_events()[-1]["content"] == b"second!"


def test_blob_poison_after_max_dequeue_count(test_app_host, azurite):
    name = f"fail-{uuid.uuid4()}.txt"
    upload(azurite, name, b"bad")
    poisoned = take_raw_message(azurite, "webjobs-blobtrigger-poison",
                                lambda c: b64_json(c).get("BlobName") == name)
    assert b64_json(poisoned)["ContainerName"] == runtime_app.BLOB_CONTAINER
    assert len(events_for("blob", "name", f"{runtime_app.BLOB_CONTAINER}/{name}")) == 3


# ---------------------------------------------------------------- shutdown and command line


def test_graceful_shutdown_finishes_in_flight_request(azurite, host_json):
    host = LocalHost(runtime_app.app, host_json, port=0, stop_timeout=10,
                     blob_poll_interval=POLL).start()
    runtime_app.slow_started.clear()
    replies = []
    client = threading.Thread(target=lambda: replies.append(
        requests.get(f"{host.url}/face/slow?seconds=1", timeout=20)))
    client.start()
    assert runtime_app.slow_started.wait(10)
    assert host.stop() is True
    client.join()
    assert replies[0].status_code == 200 and replies[0].text == "finished"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{host.url}/face/things/latest", timeout=5)


def test_command_line_serves_and_stops_on_sigterm(azurite, host_json):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app", "tests.apps.runtime_app",
         "--port", str(port), "--host-json", str(host_json)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while "Press Ctrl-C" not in "".join(lines):
            line = process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        banner = "".join(lines)
        assert f"http://127.0.0.1:{port}/face/things/latest" in banner
        assert TEST_KEY in banner          # the first key of FACE_API_KEYS
        assert requests.get(f"http://127.0.0.1:{port}/face/things/latest",
                            timeout=10).text == "literal"
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        assert "stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
