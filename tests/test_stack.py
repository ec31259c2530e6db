"""Light checks of `quanzi stack` against the test stack that `make test` starts beforehand."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.settings import Settings
from graph.driver import Graph
from stack import manager


@pytest.fixture
def listener() -> Iterator[int]:
    """A plain TCP listener on a free loopback port, standing in for a foreign process."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _pids(settings: Settings) -> dict[str, int | None]:
    return {item.name: item.pid for item in manager.status(settings)}


def test_status_reports_running_test_stack_healthy() -> None:
    statuses = manager.status(Settings())
    assert [item.name for item in statuses] == ["neo4j", "redis"]
    for item in statuses:
        assert item.healthy, item.line()
        assert item.pid is not None
        assert f"port {item.port}" in item.line()


def test_up_on_running_stack_is_a_noop() -> None:
    settings = Settings()
    before = _pids(settings)
    messages: list[str] = []
    started = time.monotonic()
    manager.up(settings, echo=messages.append)
    assert time.monotonic() - started < 15
    assert _pids(settings) == before
    assert any("already running" in line for line in messages)
    assert not any("started pid" in line for line in messages)


@pytest.mark.parametrize("service", ["redis", "neo4j"])
def test_port_conflict_fails_fast_without_starting(
    service: str, listener: int, tmp_path: Path
) -> None:
    settings = Settings(
        stack_dir=tmp_path,
        redis_url=f"redis://127.0.0.1:{listener}/0",
        neo4j_uri=f"neo4j://127.0.0.1:{listener}",
        stack_timeout_seconds=30,
    )
    started = time.monotonic()
    with pytest.raises(manager.StackError) as info:
        manager.up(settings, services=[service], echo=lambda _msg: None)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert f"port {listener} is in use" in message
    assert ("QUANZI_REDIS_URL" if service == "redis" else "QUANZI_NEO4J_URI") in message
    assert not list((tmp_path / "run").glob("*.pid"))
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").iterdir())


def test_pid_reuse_is_not_trusted_and_down_is_idempotent(tmp_path: Path) -> None:
    settings = Settings(stack_dir=tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    # A live pid (ours) with the wrong start time must be treated as someone else's process.
    stale = {"pid": os.getpid(), "start_time": 1, "port": 1}
    (run / "redis.pid").write_text(json.dumps(stale))
    assert [item.health for item in manager.status(settings)][1] == "stopped"
    manager.down(settings, echo=lambda _msg: None)  # must not signal this test process
    manager.down(settings, echo=lambda _msg: None)
    assert not (run / "redis.pid").exists()


@pytest.mark.parametrize("command", [["stack", "status"], ["stack", "down"], ["migrate"]])
def test_a_bad_setting_is_a_message_not_a_traceback(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from api.cli import main
    from api.settings import get_settings

    monkeypatch.setenv("QUANZI_ENV", "dev")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, command)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "invalid configuration: QUANZI_ENV: Input should be" in result.output
    assert isinstance(result.exception, SystemExit)  # click's exit, not a ValidationError


async def test_neo4j_promises_no_keep_alive_so_the_driver_sets_no_read_timeout(
    graph: Graph,
) -> None:
    """With keep-alive NOOPs the server hints a receive timeout, and the Python driver then
    wraps every socket read in a timed task: 1.8x its cost per record (stack/Launcher.java
    and docker-compose.yml turn it off)."""
    result = await graph.read(
        "SHOW SETTINGS YIELD name, value "
        "WHERE name = 'server.bolt.connection_keep_alive_for_requests' RETURN value"
    )
    assert [r["value"] for r in result.records] == ["OFF"]
    compose = (Path(__file__).parent.parent / "docker-compose.yml").read_text()
    assert 'NEO4J_server_bolt_connection__keep__alive__for__requests: "OFF"' in compose
