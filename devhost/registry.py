"""The app's functions as the azure-functions library indexes them for the real host:
`app.get_functions()`, each `fn.get_function_json()` (the bindings the host receives) and
`fn.get_user_function()`. Nothing here keeps a second list of routes or queues."""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import azure.functions as func
from azurefunctions.extensions.base import SdkType

log = logging.getLogger("face.runtime")

TRIGGERS = ("httpTrigger", "queueTrigger", "timerTrigger", "blobTrigger")
OUTPUTS = ("http", "queue")
DEFAULT_CONNECTION = "AzureWebJobsStorage"


class BindingError(ValueError):
    """A binding the local runtime cannot honour, or a %setting% that is not set."""


def app_setting(text: str) -> str:
    """Resolve `%NAME%` references to app settings, as the host does in binding properties."""
    def lookup(match: re.Match) -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise BindingError(f"app setting {match.group(1)} (used as %{match.group(1)}%) "
                               "is not set")
        return value
    return re.sub(r"%([^%]+)%", lookup, text)


def expand(text: str, values: dict[str, str]) -> str:
    """Fill `{name}` binding expressions from the trigger's values (route or blob path)."""
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


class OutValue(func.Out):
    """What the worker passes for an output binding parameter such as `func.Out[str]`."""

    def __init__(self):
        self.value: Any = None

    def set(self, val: Any) -> None:
        self.value = val

    def get(self) -> Any:
        return self.value


@dataclass
class Invocation:
    result: Any                 # the function's return value ($return)
    outputs: dict[str, Any]     # output binding name -> value set by the function


@dataclass
class FunctionEntry:
    name: str
    trigger: dict               # the trigger binding, as in function.json
    outputs: list[dict]         # output bindings other than HTTP's $return
    user_function: Callable

    @property
    def trigger_type(self) -> str:
        return self.trigger["type"]

    @property
    def binds_sdk_type(self) -> bool:
        """Whether the trigger parameter is an SDK-type binding (azurefunctions-extensions,
        e.g. a BlobClient): the host then passes a client instead of the content."""
        annotation = inspect.signature(self.user_function, eval_str=True).parameters[
            self.trigger["name"]].annotation
        return isinstance(annotation, type) and issubclass(annotation, SdkType)

    def setting(self, key: str, default: str | None = None) -> str:
        """A trigger property with %app setting% references resolved."""
        value = self.trigger.get(key, default)
        if value is None:
            raise BindingError(f"function {self.name}: trigger has no {key}")
        return app_setting(str(value))

    @property
    def connection(self) -> str:
        return self.trigger.get("connection") or DEFAULT_CONNECTION

    def invoke(self, trigger_value: Any, reason: str) -> Invocation:
        """Run the user function once, logging like the host; exceptions propagate."""
        invocation_id = uuid.uuid4()
        log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", self.name, reason,
                 invocation_id)
        started = time.perf_counter()
        outs = {b["name"]: OutValue() for b in self.outputs if b["name"] != "$return"}
        try:
            result = self.user_function(**{self.trigger["name"]: trigger_value}, **outs)
            if inspect.isawaitable(result):
                result = asyncio.run(result)
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)", self.name,
                          invocation_id, (time.perf_counter() - started) * 1000)
            raise
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", self.name,
                 invocation_id, (time.perf_counter() - started) * 1000)
        values = {name: out.get() for name, out in outs.items()}
        if any(b["name"] == "$return" for b in self.outputs):
            values["$return"] = result
        return Invocation(result, values)


_index_lock = threading.Lock()


def indexed_functions(app: func.FunctionApp) -> list:
    """`app.get_functions()` without its side effect: the call records the names it checks
    for uniqueness on the app, so a second call (another LocalHost, or a test reading the
    metadata) would fail with "does not have a unique function name". The check still runs,
    on a fresh record, and the app's own record is put back."""
    with _index_lock:
        saved, app.functions_bindings = app.functions_bindings, None
        try:
            return app.get_functions()
        finally:
            app.functions_bindings = saved


def function_metadata(app: func.FunctionApp) -> dict[str, dict]:
    """Function name -> the function.json the real host receives for it."""
    return {fn.get_function_name(): json.loads(fn.get_function_json())
            for fn in indexed_functions(app)}


def _entry(name: str, metadata: dict, user_function: Callable) -> FunctionEntry:
    bindings = metadata["bindings"]
    triggers = [b for b in bindings if b["type"].endswith("Trigger")]
    if len(triggers) != 1:
        raise BindingError(f"function {name}: expected one trigger, found {len(triggers)}")
    trigger = triggers[0]
    if trigger["type"] not in TRIGGERS:
        raise BindingError(f"function {name}: {trigger['type']} is not served locally")
    others = [b for b in bindings if b is not trigger]
    unsupported = [b["type"] for b in others
                   if b["direction"].upper() != "OUT" or b["type"] not in OUTPUTS]
    if unsupported:
        raise BindingError(f"function {name}: bindings {unsupported} are not served locally")
    outputs = [b for b in others if b["type"] == "queue" or b["name"] == "$return"]
    return FunctionEntry(name, trigger, outputs, user_function)


def load_functions(app: func.FunctionApp) -> list[FunctionEntry]:
    """Every function the local runtime can serve; others are logged and skipped (they still
    run under `func start` or in Azure)."""
    entries = []
    for fn in indexed_functions(app):
        name = fn.get_function_name()
        try:
            entries.append(_entry(name, json.loads(fn.get_function_json()),
                                  fn.get_user_function()))
        except BindingError as err:
            log.warning("skipping %s", err)
    return entries
