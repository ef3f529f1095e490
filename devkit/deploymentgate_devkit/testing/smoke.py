"""A small smoke test for the local cluster: GET $SMOKE_URL<path>, exit 0 or 1.

Run by the sandbox's `sandbox/exec` image as a smoke-test Job's container
(`smoke_template()` builds one). It prints what it did, one line each, so the
gate's Event shows the log tail; `--fail` makes it fail after those lines
(a test's configurable exit).

    python -m deploymentgate_devkit.testing.smoke --path /health --expect-status 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any


def check(url: str, expect_status: int, timeout: float) -> tuple[bool, str]:
    """One GET; whether it answered `expect_status`, and a line saying what it answered."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # pod to pod
    try:
        with opener.open(url, timeout=timeout) as response:
            status, body = response.status, response.read(200)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(200)
    except (urllib.error.URLError, OSError) as exc:
        return False, f"GET {url}: {exc}"
    text = body.decode("utf-8", "replace").strip()
    return status == expect_status, f"GET {url} -> {status} {text}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default="/health")
    parser.add_argument("--expect-status", type=int, default=200)
    parser.add_argument("--url-env", default="SMOKE_URL")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--fail", default="", help="fail with this message after the checks")
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds to take first")
    args = parser.parse_args(argv)
    base = os.environ.get(args.url_env, "")
    if not base:
        print(f"smoke: ${args.url_env} is not set", flush=True)
        return 1
    time.sleep(args.sleep)
    ok, line = check(base.rstrip("/") + args.path, args.expect_status, args.timeout)
    if args.fail:
        print(f"smoke: {line}", flush=True)
        print(f"smoke: FAILED: {args.fail}", flush=True)
        return 1
    if not ok:
        print(f"smoke: {line}", flush=True)
        print(f"smoke: FAILED: expected {args.expect_status}", flush=True)
        return 1
    print(f"smoke: passed: {line}", flush=True)
    return 0


def smoke_template(*args: str) -> dict[str, Any]:
    """A smoke-test pod template for the sandbox (`spec.probes.smoke.template`)."""
    return {
        "spec": {
            "containers": [
                {
                    "name": "smoke",
                    "image": "sandbox/exec",
                    "command": ["python", "-m", "deploymentgate_devkit.testing.smoke", *args],
                }
            ]
        }
    }


if __name__ == "__main__":
    sys.exit(main())
