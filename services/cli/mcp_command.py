"""`pivot mcp`: serve Pivot's tools to MCP clients (stdio for desktop and IDE clients, or HTTP).

The MCP SDK is an optional dependency (the `agents` extra), so it is imported only when the
command runs: `pivot --help` and every other command work without it.
"""

import argparse
import json
import os
import sys
from typing import Any

from pivot.services.admin import DEFAULT_ADMIN
from pivot.services.agents.mcp_http import DEFAULT_BIND
from pivot.services.cli.local_stack import local_stack_of

TOOL_MODES = ("auto", "full", "meta")
TOOLS_HELP = ("full: one tool per action, the saga controls and the plan path; meta: find_actions, "
              "describe_action, a generic step, saga_preview and the controls, whatever the catalog's size; "
              "auto (default): meta above 40 actions")


def add_arguments(parser: argparse.ArgumentParser, default_ingress: str | None) -> None:
    """The options of `pivot mcp`; an address left None is found by the CLI (env, local stack, default)."""
    parser.add_argument("--ingress", default=default_ingress,
                        help="Restate ingress URL (default: $PIVOT_INGRESS_URL, else the local stack's, "
                             "else http://127.0.0.1:8080)")
    parser.add_argument("--admin", help="Restate admin URL, for the saga://<run>/journal resources "
                                        "(default: $PIVOT_ADMIN_URL, else the local stack's, else "
                                        f"{DEFAULT_ADMIN})")
    parser.add_argument("--tools", choices=TOOL_MODES, default="auto", help=TOOLS_HELP)
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio",
                        help="stdio (what desktop and IDE clients spawn) or streamable HTTP at /mcp")
    parser.add_argument("--bind", default=DEFAULT_BIND,
                        help=f"HOST:PORT for --transport http (default {DEFAULT_BIND}: loopback only). "
                             "Set PIVOT_MCP_TOKEN to require Authorization: Bearer <token>; beyond loopback "
                             "it is required")
    parser.add_argument("--allow-host", action="append", default=[], metavar="HOST[:PORT]", dest="allow_hosts",
                        help="a host name clients reach the HTTP transport by (repeatable); requests whose Host "
                             "or Origin header names anything else are refused (on loopback, the loopback "
                             "names are always allowed)")
    parser.add_argument("--insecure-no-token", action="store_true",
                        help="serve --transport http beyond loopback without PIVOT_MCP_TOKEN: anyone who can "
                             "reach it can write through Pivot")
    parser.add_argument("--actions", nargs="+", metavar="GLOB",
                        help="expose only these actions' step tools (e.g. 'stripe.*' 'hubspot.create_*')")


def run(args: argparse.Namespace) -> int:
    try:
        from pivot.services.agents.mcp_server import CannotServe, ServeOptions, serve
    except ImportError as missing:
        print(f"pivot mcp needs the MCP SDK ({missing.name} is missing): pip install 'pivot[agents]'",
              file=sys.stderr)
        return 1
    try:
        serve(ServeOptions(ingress_url=args.ingress, transport=args.transport, bind=args.bind,
                           actions=tuple(args.actions or ()), mode=args.tools, admin_url=args.admin,
                           allow_hosts=tuple(args.allow_hosts),
                           insecure_no_token=args.insecure_no_token))
    except CannotServe as invalid:
        print(f"pivot mcp: {invalid}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


def print_config(args: argparse.Namespace) -> int:
    """`pivot mcp config`: the client's JSON on stdout; where it goes on stderr."""
    from pivot.services.cli.mcp_config import WHERE, client_config

    stack = local_stack_of(args)
    url = stack.value(args.url, None, lambda info: info.mcp, f"http://{DEFAULT_BIND}/mcp")
    token = bool(os.environ.get("PIVOT_MCP_TOKEN")) or bool(stack.found and stack.found.info.mcp_token_required)
    config = client_config(args.client, args.transport, ingress=args.ingress, admin=args.admin, url=url, token=token)
    print(json.dumps(config, indent=2))
    print(f"# for {WHERE[args.client]}", file=sys.stderr)
    return 0


def add_command(sub: Any, default_ingress: str | None) -> None:
    """Register `pivot mcp` (and `pivot mcp config`) on the CLI's subparsers."""
    from pivot.services.cli.mcp_config import CLIENTS

    parser: argparse.ArgumentParser = sub.add_parser(
        "mcp", help="serve Pivot's tools to MCP clients: one tool per action, the saga controls, plans")
    add_arguments(parser, default_ingress)
    parser.set_defaults(func=run)
    more = parser.add_subparsers(dest="mcp_command", metavar="config", help="config: print an MCP client's JSON")
    config = more.add_parser("config", help="print the JSON an MCP client needs to start or reach pivot mcp "
                                            "(the installed pivot by absolute path)")
    config.add_argument("--transport", choices=["stdio", "http"], default=argparse.SUPPRESS,
                        help="stdio (default: the client spawns pivot mcp) or http (it reaches pivot mcp "
                             "--transport http)")
    config.add_argument("--client", choices=CLIENTS, default="generic", help="whose file format (default generic)")
    config.add_argument("--url", help="the HTTP transport's URL (default: the local stack's, else "
                                      f"http://{DEFAULT_BIND}/mcp)")
    config.set_defaults(func=print_config)
