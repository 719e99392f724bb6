"""`python -m devhost [--app function_app] [--host 127.0.0.1] [--port 7071]
[--with-azurite]`: serve the function app locally until Ctrl-C or SIGTERM."""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import threading
from pathlib import Path

from devhost.azurite import Azurite
from devhost.host import ROOT, LocalHost, StartError
from shared import settings
from devhost.http_server import resolve

log = logging.getLogger("face.runtime")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--app", default="function_app",
                        help="module holding the FunctionApp, optionally module:attribute "
                             "(default function_app, attribute app)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--host-json", type=Path, default=ROOT / "host.json")
    parser.add_argument("--with-azurite", action="store_true",
                        help="start Azurite on ports 10000-10002 (data in .azurite/) and point "
                             "AzureWebJobsStorage at it unless already set")
    return parser.parse_args(argv)


def load_app(spec: str):
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute or "app")


def print_banner(host: LocalHost) -> None:
    print(f"\nFunctions (listening on {host.url}):")
    for route in host.http.routes:
        methods = ",".join(sorted(route.methods)) if route.methods else "ALL"
        print(f"  {route.entry.name}: [{methods}] {host.url}/{route.template.template}")
    for listener in host.listeners:
        print(f"  {listener.entry.name}: {listener.entry.trigger_type}")
    if resolve(host.http.routes, "GET", "/").route:
        print(f"\nIn a browser: {host.url}/")
    print(f"\nAPI key (Ocp-Apim-Subscription-Key): {settings.api_keys()[0]}")
    print("Press Ctrl-C to stop.\n", flush=True)


def wait_for_signal() -> None:
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("%s received: stopping", signal.Signals(signum).name)
        signal.signal(signal.SIGINT, signal.SIG_DFL)   # a second Ctrl-C ends at once
        stop.set()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stop.wait(1.0):
        pass


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)   # the SDKs log every HTTP call
    settings.load_local_settings()
    azurite = None
    try:
        if args.with_azurite:
            azurite = Azurite(ROOT / ".azurite").start()
            os.environ.setdefault("AzureWebJobsStorage", azurite.connection_string)
            log.info("Azurite on 127.0.0.1:%d-%d (data in %s)", azurite.blob_port,
                     azurite.table_port, azurite.location)
        try:
            host = LocalHost(load_app(args.app), args.host_json, args.host, args.port).start()
        except StartError as err:
            raise SystemExit(f"{err}\nIs Azurite running? `make run` (or --with-azurite) "
                             "starts one.") from None
        try:
            print_banner(host)
            wait_for_signal()
        finally:
            host.stop()
    finally:
        if azurite:
            azurite.stop()
    log.info("stopped")


if __name__ == "__main__":
    main()
