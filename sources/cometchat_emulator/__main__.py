"""`python -m sources.cometchat_emulator serve ...`: generate, bind loopback, print one JSON line, serve until a signal."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading

from .config import EmulatorConfig, add_config_arguments, config_from_namespace
from .server import Application, EmulatorHTTPServer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sources.cometchat_emulator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the emulator on a loopback port")
    add_config_arguments(serve)
    serve.add_argument("--parent-pid", type=int, default=None, help="exit as soon as this process is gone")
    serve.add_argument("--log-level", default="WARNING", help="logging level of the server (stderr)")
    return parser


def _watch_parent(parent_pid: int, stop: threading.Event) -> None:
    # A parent killed with SIGKILL cannot stop us; re-parenting (ppid change) tells us it is gone. The
    # data lives in memory only, so exiting at once (even mid-generation) loses nothing.
    while not stop.wait(0.2):
        if os.getppid() != parent_pid:
            os._exit(0)


def serve(config: EmulatorConfig, parent_pid: int | None = None) -> int:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if parent_pid is not None:
        threading.Thread(target=_watch_parent, args=(parent_pid, stop), daemon=True).start()
    app = Application(config)
    if stop.is_set():  # signalled while generating
        return 0
    server = EmulatorHTTPServer(app, config.host, config.port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    line = {
        "base_url": f"{server.origin}/v3",
        "app_id": config.app_id,
        "api_key": config.effective_api_key,
        "admin_url": f"{server.origin}/__admin",
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    stop.wait()
    server.shutdown()
    server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format="%(levelname)s %(message)s")
    try:
        config = config_from_namespace(args)
    except ValueError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    return serve(config, args.parent_pid)


if __name__ == "__main__":
    sys.exit(main())
