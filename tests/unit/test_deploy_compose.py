"""docker-compose.yml and deploy/nginx.conf (docs/deploy.md) agree with each other and with the servers:
every server and the worker use the one Redis (persistent), nginx balances over every server and passes
WebSockets. Not a run of Docker: what can be checked without it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from vizserver.scale.redis_link import check_redis_url

ROOT = Path(__file__).resolve().parents[2]


def _services() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services: dict[str, dict[str, Any]] = document["services"]
    return services


def _redis_url(service: dict[str, Any]) -> str | None:
    command = service.get("command") or []
    if "--redis" in command:
        return str(command[command.index("--redis") + 1])
    url = (service.get("environment") or {}).get("VIZSERVER_REDIS_URL")
    return None if url is None else str(url)


def _servers(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if s.get("command", [])[:2] == ["vizserver", "serve"]}


def test_every_server_and_the_worker_share_one_persistent_redis() -> None:
    services = _services()
    servers = _servers(services)
    workers = [s for s in services.values() if s.get("command", [])[:2] == ["vizserver", "worker"]]
    assert len(servers) >= 2 and len(workers) >= 1
    urls = {_redis_url(s) for s in [*servers.values(), *workers]}
    assert len(urls) == 1 and None not in urls, urls
    url = check_redis_url(str(urls.pop()))
    assert urlsplit(url).hostname == "redis" and "redis" in services
    assert "--appendonly" in services["redis"]["command"]
    assert services["redis"]["command"][services["redis"]["command"].index("--appendonly") + 1] == "yes"


def test_nginx_balances_over_every_server_and_passes_websockets() -> None:
    services = _services()
    mounts = [v.split(":")[0] for v in services["nginx"]["volumes"]]
    conf_path = ROOT / "deploy" / "nginx.conf"
    assert "./deploy/nginx.conf" in mounts and conf_path.is_file()
    conf = conf_path.read_text()
    upstream = re.search(r"upstream vizserver \{(.*?)\}", conf, re.S)
    assert upstream is not None
    assert set(re.findall(r"server (\w+):8000", upstream.group(1))) == set(_servers(services))
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert "proxy_http_version 1.1;" in conf
