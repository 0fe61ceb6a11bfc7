"""Command line: run a seeded sandbox site until killed.

    python -m jira_sandbox --port 8080 --flavour cloud --issues 1000 --seed 1 [--latency-ms 20]
                           [--state-file site.pickle]

Prints ONE JSON line on stdout, `{"base_url", "email", "api_token", "pat", "username",
"password", "admin_token", "flavour"}`, then serves with werkzeug's threaded server (one thread
per request; fine for tests, benchmarks and the demo, not for production traffic).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys

from werkzeug.serving import make_server

from jira_sandbox import persist
from jira_sandbox.app import create_app
from jira_sandbox.seed import seed_site
from jira_sandbox.state import SandboxState


def build_parser() -> argparse.ArgumentParser:
    """The CLI's arguments."""
    parser = argparse.ArgumentParser(prog="python -m jira_sandbox", description="Run a sandbox Jira site.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--flavour", choices=("cloud", "server"), default="cloud")
    parser.add_argument("--issues", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--projects", type=int, default=3)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--rate-limit", type=int, default=0, help="requests per --rate-window-s; 0 = off")
    parser.add_argument("--rate-window-s", type=float, default=60)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--state-file", help="load the site from this file if it exists, save it on exit")
    return parser


def _exit_on_signal(signum, frame):
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Seed (or load), print the connection line, serve until interrupted."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    state = SandboxState(flavour=args.flavour)
    if args.state_file and persist.exists(args.state_file):
        persist.load(state, args.state_file)
    else:
        seed_site(state, issues=args.issues, seed=args.seed, projects=args.projects, customers=args.customers)
    app = create_app(state, latency_ms=args.latency_ms, rate_limit=args.rate_limit,
                     rate_window_s=args.rate_window_s, error_rate=args.error_rate)
    server = make_server(args.host, args.port, app, threaded=True)
    state.base_url = f"http://{args.host}:{server.server_port}"
    admin = state.admin
    print(json.dumps({"base_url": state.base_url, "flavour": state.flavour, "email": admin["emailAddress"],
                      "api_token": admin["api_token"], "username": admin["name"], "password": admin["password"],
                      "pat": admin["pat"] if state.flavour == "server" else None,
                      "admin_token": state.admin_token}), flush=True)
    # SIGTERM (how tests and benchmarks stop us) should still save the state file.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        if args.state_file:
            persist.save(state, args.state_file)
    return 0
