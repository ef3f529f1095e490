"""``python -m chat_backend``: the process a simulated node runs for each pod."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence

from chat_backend.config import BackendConfig
from chat_backend.modes import Mode
from chat_backend.server import start_server

log = logging.getLogger("chat_backend")


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    modes = ", ".join(m.value for m in Mode)
    parser = argparse.ArgumentParser(
        prog="python -m chat_backend",
        description=f"Reference chat backend for DeploymentGate. Modes: {modes}.",
    )
    parser.add_argument("--host", default=env.get("POD_IP") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=env.get("PORT") or "8000")
    parser.add_argument("--mode", default=env.get("CHAT_MODE") or Mode.HEALTHY.value)
    parser.add_argument(
        "--version", default=None, help="reported version (default: env APP_VERSION, else dev)"
    )
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = build_parser(env).parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s chat-backend %(levelname)s %(message)s",
    )
    try:
        config = BackendConfig.from_env(args.mode, args.version, env)
    except ValueError as exc:
        print(f"chat-backend: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve_until_signal(config, args.host, args.port))


async def _serve_until_signal(config: BackendConfig, host: str, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        server = await start_server(config, host, port)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", host, port, exc)
        return 1
    await stop.wait()
    log.info("signal received, shutting down")
    await server.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
