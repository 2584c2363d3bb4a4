"""The `[web]` config section: where the console listens and who may use it.

Pure: parses a TOML table into a `WebConfig` and reports problems as lines that name
the file and the key, like the rest of monitor/config.py. Kept apart from the web stack
(monitor/web/) so that loading the config never imports Starlette or uvicorn.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

DEFAULT_LISTEN = "127.0.0.1:8765"
PASSWORD_HINT = 'set [web] password = "${MM_WEB_PASSWORD}" (and export MM_WEB_PASSWORD)'


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class WebConfig:
    """`listen` None: `run` does not serve the console (`serve` still can, on the default address)."""

    listen: ListenAddress | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never print the password
        return f"WebConfig(listen={self.listen!r}, password={'***' if self.password else None})"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen(text: str) -> ListenAddress:
    """"127.0.0.1:8765", "[::1]:8765", "0.0.0.0:80", ":8765" (all addresses), port 0: any free
    port (the address announced is the real one); raises ValueError."""
    if not isinstance(text, str) or ":" not in text:
        raise ValueError(f'expected "HOST:PORT" such as "{DEFAULT_LISTEN}", got {text!r}')
    host, _, port_text = text.strip().rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    if not port_text.isdigit() or not 0 <= int(port_text) < 65536:  # 0: any free port (tests)
        raise ValueError(f"expected a port number from 0 to 65535 after the colon, got {port_text!r}")
    return ListenAddress(host, int(port_text))


def open_listen_problem(listen: ListenAddress, password: str | None) -> str | None:
    """Why the console may not listen there, or None. Any address but loopback needs a password."""
    if listen.loopback or password:
        return None
    return f"listening on {listen} would open the console to the network without a password; {PASSWORD_HINT}"


def parse_web(table: dict[str, Any], where: str, problems: list[str]) -> WebConfig:
    p = "web."
    for key in table:
        if key not in ("listen", "password"):
            problems.append(f"{where}: {p}{key}: unknown key (allowed: listen, password)")
    listen = None
    if "listen" in table:
        try:
            listen = parse_listen(table["listen"])
        except ValueError as error:
            problems.append(f"{where}: {p}listen: {error}")
    password = table.get("password")
    if password is not None and (not isinstance(password, str) or not password):
        # Never echo the value: it is a secret.
        problems.append(f"{where}: {p}password: expected a non-empty text (write it as \"${{MM_WEB_PASSWORD}}\")")
        password = None
    if listen is not None and (problem := open_listen_problem(listen, password)):
        problems.append(f"{where}: {p}listen: {problem}")
    return WebConfig(listen=listen, password=password)
