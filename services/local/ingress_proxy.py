"""Restate's ingress behind nginx, authenticating callers: the config (rendered from
`ingress_proxy.nginx.conf`) and nginx itself as a process this module owns.

Restate's ingress trusts every caller, grants CORS to any origin and journals every request's
headers, so beyond loopback it must sit behind a proxy that checks a credential and strips it
before Restate sees it (the template says what the proxy does, line by line). Tokens come from
the environment (`PIVOT_INGRESS_TOKENS`, comma-separated, for a rotation; else the one the
clients send, `PIVOT_INGRESS_TOKEN`): never from a flag, which `ps` shows. They end up in the
rendered file only, written readable by its owner alone.

    python -m pivot.services.local.ingress_proxy run --listen 127.0.0.1:8081 --upstream 127.0.0.1:8080
    python -m pivot.services.local.ingress_proxy render --out nginx.conf --listen 0.0.0.0:8081 --upstream restate:8080

Standard library only: docker-compose renders the config with a bare Python image.
"""

import argparse
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pivot.services.ingress_token import INGRESS_TOKEN_ENV
from pivot.services.local.processes import ManagedProcess

TEMPLATE = Path(__file__).with_name("ingress_proxy.nginx.conf")
INGRESS_TOKENS_ENV = "PIVOT_INGRESS_TOKENS"

MAX_BODY = "1m"
"""Every request body up to this size reaches the service. Pivot's largest is a plan, bounded at
256 KiB of JSON (pivot.compensations.plan.MAX_PLAN_BYTES): a plan over it is still answered by the
service, naming its limit (pretty-printed JSON may take 4x the bytes), while a body past any
plausible plan never leaves the proxy."""

MIN_TOKEN_LENGTH = 32
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/-]+=*$")
"""RFC 6750's b64token: what may follow `Bearer ` in the header."""
_LISTEN = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$")
_FIELD = re.compile(r"\{\{(\w+)\}\}")
_PLAIN = re.compile(r"^[^\s;{}'\"#$\\]+$")
"""A path as nginx reads it unquoted: no space, no directive end, no variable."""
_USER = re.compile(r"^[a-z_][a-z0-9_-]*(?: [a-z_][a-z0-9_-]*)?$")


def check_token(token: str) -> str:
    """A token as the proxy can match it: b64token characters, long enough not to be guessed."""
    if not _TOKEN.match(token):
        raise ValueError("an ingress token may hold only letters, digits and - . _ ~ + / (then = padding); "
                         "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"an ingress token needs at least {MIN_TOKEN_LENGTH} characters (this one has {len(token)}); "
                         "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return token


def tokens_from_env(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The accepted tokens: PIVOT_INGRESS_TOKENS (comma-separated), else PIVOT_INGRESS_TOKEN."""
    raw = environ.get(INGRESS_TOKENS_ENV, "").strip() or environ.get(INGRESS_TOKEN_ENV, "").strip()
    tokens = tuple(check_token(t.strip()) for t in raw.split(",") if t.strip())
    if not tokens:
        raise ValueError(f"set {INGRESS_TOKEN_ENV} (or {INGRESS_TOKENS_ENV}=new,old during a rotation): "
                         "the bearer token callers must send")
    return tokens


def _checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.match(value):
        raise ValueError(f"{what}: {value!r} cannot go into the nginx config as it is")
    return value


@dataclass(frozen=True)
class ProxySettings:
    listen: str
    """HOST:PORT nginx listens on."""
    upstream: str
    """HOST:PORT of Restate's ingress (never its admin port)."""
    tokens: tuple[str, ...]
    state_dir: Path
    """pid file and nginx's temp folders; the logs too unless given."""
    error_log: str | None = None
    access_log: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    worker_user: str = "nobody nogroup"
    """Who nginx's workers run as when the master runs as root (ignored otherwise)."""

    @property
    def error_log_path(self) -> str:
        return self.error_log or str(self.state_dir / "logs" / "error.log")

    @property
    def access_log_path(self) -> str:
        return self.access_log or str(self.state_dir / "logs" / "access.log")


def _token_pattern(token: str) -> str:
    """The map line accepting `Bearer <token>`: the scheme in any case, the token exactly (nginx's
    plain map strings compare without regard to case)."""
    return f'        "~^(?i:bearer) +{re.escape(check_token(token))}$" 1;'


def render_config(settings: ProxySettings) -> str:
    """The nginx config for `settings` (every field of the template filled, or ValueError)."""
    if not settings.tokens:
        raise ValueError("at least one token is needed")
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ValueError("TLS needs both a certificate and its key")
    listen = _checked(_LISTEN, settings.listen, "--listen wants HOST:PORT (IPv6 in brackets)")
    tls = ""
    if settings.tls_cert is not None and settings.tls_key is not None:
        listen += " ssl"
        cert = _checked(_PLAIN, str(settings.tls_cert), "--tls-cert")
        key = _checked(_PLAIN, str(settings.tls_key), "--tls-key")
        tls = (f"        ssl_certificate {cert};\n        ssl_certificate_key {key};\n"
               "        ssl_protocols TLSv1.2 TLSv1.3;")
    fields = {
        "worker_user": _checked(_USER, settings.worker_user, "--worker-user wants USER [GROUP]"),
        "state_dir": _checked(_PLAIN, str(settings.state_dir), "--state-dir"),
        "error_log": _checked(_PLAIN, settings.error_log_path, "--error-log"),
        "access_log": _checked(_PLAIN, settings.access_log_path, "--access-log"),
        "token_patterns": "\n".join(_token_pattern(t) for t in dict.fromkeys(settings.tokens)),
        "upstream": _checked(_LISTEN, settings.upstream, "--upstream wants HOST:PORT (IPv6 in brackets)"),
        "listen": listen,
        "tls": tls,
        "max_body": MAX_BODY,
    }

    def fill(match: re.Match[str]) -> str:
        return fields[match.group(1)]

    return _FIELD.sub(fill, TEMPLATE.read_text())


def write_config(settings: ProxySettings, path: Path) -> Path:
    """Render into `path`, readable by its owner only (it holds the tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(render_config(settings))
    path.chmod(0o600)
    return path


def find_nginx() -> str | None:
    """nginx on PATH, or where Debian puts it (/usr/sbin is not on every user's PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


class IngressProxy:
    """nginx in front of Restate's ingress, rendered into and run from `settings.state_dir`:
    `nginx -p <state_dir> -c <state_dir>/nginx.conf -g 'daemon off;'` as a ManagedProcess (the
    master is the process; stopped by its pid, its workers with it)."""

    def __init__(self, settings: ProxySettings, nginx: str | None = None):
        binary = nginx or find_nginx()
        if binary is None:
            raise FileNotFoundError("nginx is not installed (Debian: apt-get install nginx)")
        self.settings = settings
        self.config_path = settings.state_dir / "nginx.conf"
        host, _, port = settings.listen.rpartition(":")
        self.port = int(port)
        scheme = "https" if settings.tls_cert else "http"
        self.url = f"{scheme}://{host}:{self.port}"
        self.process = ManagedProcess(
            "ingress-proxy",
            [binary, "-p", str(settings.state_dir), "-c", str(self.config_path),
             "-e", settings.error_log_path, "-g", "daemon off;"],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            cwd=settings.state_dir, log_path=settings.state_dir / "logs" / "nginx.out",
        )

    def start(self, timeout_s: float = 30.0) -> None:
        (self.settings.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        write_config(self.settings, self.config_path)
        self.process.start()
        try:  # the master's listening socket: a connection made before a worker runs waits in its backlog
            self.process.wait_listening(self.port, timeout_s=timeout_s)
        except BaseException:
            self.process.stop()
            raise

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> "IngressProxy":
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _settings(args: argparse.Namespace) -> ProxySettings:
    return ProxySettings(listen=args.listen, upstream=args.upstream, tokens=tokens_from_env(),
                         state_dir=Path(args.state_dir).resolve(), error_log=args.error_log,
                         access_log=args.access_log, tls_cert=args.tls_cert, tls_key=args.tls_key,
                         worker_user=args.worker_user)


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m pivot.services.local.ingress_proxy", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("command", choices=["render", "run"],
                     help="render: write the config (--out); run: render into --state-dir and run nginx")
    cli.add_argument("--listen", default="127.0.0.1:8081", help="HOST:PORT to listen on (default 127.0.0.1:8081)")
    cli.add_argument("--upstream", default="127.0.0.1:8080", help="HOST:PORT of Restate's ingress")
    cli.add_argument("--state-dir", default=".restate/ingress-proxy", help="pid, temp folders and logs")
    cli.add_argument("--out", type=Path, help="render: where to write the config")
    cli.add_argument("--error-log", help="default STATE_DIR/logs/error.log (`stderr` in a container)")
    cli.add_argument("--access-log", help="default STATE_DIR/logs/access.log (`/dev/stdout` in a container)")
    cli.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM, chain included)")
    cli.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    cli.add_argument("--worker-user", default="nobody nogroup", help="nginx workers' user and group (as root)")
    return cli


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = _settings(args)
        if args.command == "render":
            if args.out is None:
                raise ValueError("render needs --out")
            write_config(settings, args.out)
            print(f"ingress proxy: config written to {args.out} (mode 0600: it holds the tokens)", file=sys.stderr)
            return 0
        proxy = IngressProxy(settings)
    except (ValueError, FileNotFoundError) as invalid:
        print(f"ingress proxy: {invalid}", file=sys.stderr)
        return 2
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):  # stop nginx with us, however we are stopped
        signal.signal(signum, interrupt)
    with proxy:
        print(f"ingress proxy: {proxy.url} → http://{settings.upstream} (bearer token required); "
              f"logs in {settings.state_dir / 'logs'}; Ctrl-C stops it", file=sys.stderr)
        try:
            while proxy.process.running:
                time.sleep(1.0)  # a foreground command waiting for Ctrl-C (or nginx exiting)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
