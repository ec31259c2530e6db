"""Start, stop and inspect the local stack: embedded Neo4j 5.26 (Bolt) and Redis 7, no Docker.

Layout under ``settings.stack_dir`` (default ``.quanzi``)::

    run/neo4j.pid, run/redis.pid   JSON: pid, process start time, port (guards against pid reuse)
    run/.lock                      serialises concurrent ``up``/``down`` invocations
    logs/neo4j.log, logs/redis.log stdout+stderr of each process
    neo4j/                         Neo4j home (data/, logs/debug.log ...)
    redis/                         Redis working dir (append-only file)

Neo4j jars are resolved once by Maven into ``${XDG_CACHE_HOME:-~/.cache}/quanzi/neo4j-<ver>/lib``
(outside the repository) and ``stack/Launcher.java`` runs against them with the Java source
launcher, so there is no build step.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import redis
from neo4j import GraphDatabase

from api.settings import Settings

NEO4J_VERSION = "5.26.30"
PACKAGE_DIR = Path(__file__).resolve().parent
POM_FILE = PACKAGE_DIR / "pom.xml"
LAUNCHER_FILE = PACKAGE_DIR / "Launcher.java"
SERVICES: tuple[str, ...] = ("neo4j", "redis")
# With QUANZI_REDIS_CLUSTER the "redis" service is a local Redis Cluster: 3 masters and 3
# replicas, processes redis-0 .. redis-5 on the URL's port and the five after it.
CLUSTER_NODES = 6
CLUSTER_REPLICAS = 1
# How long a master may be unreachable before the others fail it over to its replica.
CLUSTER_NODE_TIMEOUT_MS = 2000
LOG_TAIL_LINES = 40
STOP_GRACE_SECONDS = 30.0
HEALTH_PROBE_TIMEOUT = 2.0

# What Neo4j's own distribution passes to the JVM on Java 17, plus a few opens that embedded
# dependencies (netty, eclipse-collections) reach for; without them the engine logs
# reflective-access failures or falls back to slower code paths.
JVM_FLAGS: tuple[str, ...] = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
)

_LOG_HEADER = "===== quanzi stack up"
_MEMORY_RE = re.compile(r"^\d+[kKmMgG]?$")

Echo = Callable[[str], None]
Health = Literal["healthy", "unhealthy", "stopped"]

# Popen handles of processes started by this interpreter. Kept so they are not garbage
# collected (which warns "subprocess is still running") and so ``down`` in the same process
# (tests) can reap them instead of leaving zombies.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class StackError(RuntimeError):
    """A user-facing failure: the message says what happened and what to do about it."""


@dataclass(frozen=True)
class PidRecord:
    """What we remember about a process we started, enough to recognise it later."""

    pid: int
    start_time: int
    port: int


@dataclass(frozen=True)
class ServiceStatus:
    """One line of ``quanzi stack status``."""

    name: str
    pid: int | None
    port: int
    health: Health
    detail: str = ""

    @property
    def healthy(self) -> bool:
        return self.health == "healthy"

    def line(self) -> str:
        pid = str(self.pid) if self.pid is not None else "-"
        text = f"{self.name:<6} pid {pid:<8} port {self.port:<6} {self.health}"
        return f"{text}  ({self.detail})" if self.detail else text


# --------------------------------------------------------------------------- paths


def _stack_dir(settings: Settings) -> Path:
    """Absolute stack dir, so pid files and process args stay valid whatever the cwd later is."""
    return settings.stack_dir.expanduser().resolve()


def _run_dir(settings: Settings) -> Path:
    return _stack_dir(settings) / "run"


def _log_file(settings: Settings, name: str) -> Path:
    return _stack_dir(settings) / "logs" / f"{name}.log"


def _pid_file(settings: Settings, name: str) -> Path:
    return _run_dir(settings) / f"{name}.pid"


def _service_port(settings: Settings, name: str) -> int:
    if name == "neo4j":
        return settings.neo4j_port
    if name.startswith("redis-"):  # a cluster node
        return settings.redis_port + int(name.removeprefix("redis-"))
    return settings.redis_port


def _processes(settings: Settings, name: str) -> list[str]:
    """The processes a service is: one, or the six nodes of a local Redis Cluster."""
    if name == "redis" and settings.redis_cluster:
        return [f"redis-{i}" for i in range(CLUSTER_NODES)]
    return [name]


def cluster_ports(settings: Settings) -> list[int]:
    """The ports of the local cluster's nodes."""
    return [settings.redis_port + i for i in range(CLUSTER_NODES)]


def cache_dir() -> Path:
    """Where Neo4j jars live: outside the repo, shared by every checkout and stack dir."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "quanzi" / f"neo4j-{NEO4J_VERSION}"


# --------------------------------------------------------------------------- processes


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) from /proc, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 2 (comm) is parenthesised and may contain spaces: split after the last ')'.
    rest = raw[raw.rfind(")") + 2 :].split()
    # rest[0] is field 3 (state); field 22 (starttime) is rest[19].
    return rest[0], int(rest[19])


def _reap(pid: int) -> None:
    """Collect an exited child of this interpreter so it does not linger as a zombie."""
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            _CHILDREN.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _is_running(record: PidRecord) -> bool:
    """True if the recorded process is still the one we started (same pid AND start time)."""
    _reap(record.pid)
    stat = _proc_stat(record.pid)
    if stat is None:
        return False
    state, start_time = stat
    return state not in ("Z", "X") and start_time == record.start_time


def _read_record(settings: Settings, name: str) -> PidRecord | None:
    """The pid file's content, or None if missing or unreadable (treated as not running)."""
    try:
        data = json.loads(_pid_file(settings, name).read_text())
        return PidRecord(int(data["pid"]), int(data["start_time"]), int(data["port"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def _write_record(settings: Settings, name: str, record: PidRecord) -> None:
    path = _pid_file(settings, name)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"pid": record.pid, "start_time": record.start_time, "port": record.port})
    )
    tmp.replace(path)


def _live_record(settings: Settings, name: str) -> PidRecord | None:
    """The pid record if it points at our still-running process, else None."""
    record = _read_record(settings, name)
    return record if record is not None and _is_running(record) else None


@contextlib.contextmanager
def _stack_lock(settings: Settings, timeout: float) -> Iterator[None]:
    """Serialise up/down on one stack dir so two invocations never start duplicates."""
    _run_dir(settings).mkdir(parents=True, exist_ok=True)
    with (_run_dir(settings) / ".lock").open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise StackError(
                        f"another `quanzi stack` command holds {handle.name}; try again later"
                    ) from exc
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True if something already listens on (or has bound) the port we are about to use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        if probe.connect_ex((host, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _check_port_free(settings: Settings, name: str) -> None:
    """Fail fast, before starting anything, if a foreign process holds the service's port."""
    port = _service_port(settings, name)
    if port_in_use(port):
        variable = "QUANZI_NEO4J_URI" if name == "neo4j" else "QUANZI_REDIS_URL"
        raise StackError(
            f"{name}: port {port} is in use by another process; "
            f"set {variable} to another port or stop it"
        )


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Last lines of a log, for error messages; bounded read so huge logs stay cheap."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    # Only the latest run matters: cut at the last header written by _spawn.
    header = data.rfind(_LOG_HEADER)
    if header >= 0:
        data = data[header:]
    return "\n".join(data.splitlines()[-lines:])


def _spawn(settings: Settings, name: str, argv: list[str], cwd: Path) -> PidRecord:
    """Start a detached process (own session, output to its log) and record its pid file."""
    log_path = _log_file(settings, name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"\n{_LOG_HEADER} {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
        log.flush()
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[child.pid] = child
    stat = _proc_stat(child.pid)
    if stat is None:  # exited before we could look at it
        child.wait()
        raise StackError(f"{name} exited immediately; log {log_path}:\n{log_tail(log_path)}")
    record = PidRecord(child.pid, stat[1], _service_port(settings, name))
    _write_record(settings, name, record)
    return record


def _terminate(settings: Settings, name: str, echo: Echo) -> None:
    """Stop the service if the pid file names our live process; always clear the pid file."""
    record = _read_record(settings, name)
    pid_path = _pid_file(settings, name)
    if record is None:
        echo(f"{name}: not running")
        pid_path.unlink(missing_ok=True)
        return
    if not _is_running(record):
        echo(f"{name}: not running (removed stale pid file for pid {record.pid})")
        pid_path.unlink(missing_ok=True)
        return
    echo(f"{name}: stopping pid {record.pid}")
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline and _is_running(record):
        time.sleep(0.2)
    if _is_running(record):
        echo(f"{name}: pid {record.pid} ignored SIGTERM for {STOP_GRACE_SECONDS:.0f}s; SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _is_running(record):
            time.sleep(0.1)
    pid_path.unlink(missing_ok=True)
    echo(f"{name}: stopped")


# --------------------------------------------------------------------------- health


def neo4j_healthy(port: int, timeout: float = HEALTH_PROBE_TIMEOUT) -> bool:
    """Bolt answers through a routing (neo4j://) driver, as the application will connect."""
    # Plain bolt:// first: while the server is still starting, a routing driver logs
    # "Unable to retrieve routing information" on every failed probe.
    for scheme in ("bolt", "neo4j"):
        try:
            with GraphDatabase.driver(
                f"{scheme}://127.0.0.1:{port}",
                connection_timeout=timeout,
                max_connection_pool_size=1,
            ) as driver:
                driver.verify_connectivity()
        except Exception:
            return False
    return True


def redis_healthy(port: int, timeout: float = HEALTH_PROBE_TIMEOUT) -> bool:
    """Redis answers PING."""
    client = redis.Redis(
        host="127.0.0.1", port=port, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _healthy(name: str, port: int) -> bool:
    return neo4j_healthy(port) if name == "neo4j" else redis_healthy(port)


def cluster_info(port: int, timeout: float = HEALTH_PROBE_TIMEOUT) -> dict[str, str]:
    """``CLUSTER INFO`` of one node as a dict ({} when it does not answer)."""
    client = redis.Redis(
        host="127.0.0.1", port=port, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    try:
        raw = client.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
    except redis.RedisError:
        return {}
    finally:
        client.close()
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and line.strip())


def _cluster_ok(port: int) -> bool:
    info = cluster_info(port)
    return info.get("cluster_state") == "ok" and info.get("cluster_known_nodes") == str(
        CLUSTER_NODES
    )


# --------------------------------------------------------------------------- prerequisites


def _validate_memory(value: str, what: str) -> str:
    if not _MEMORY_RE.match(value):
        raise StackError(f"{what} must look like 512m or 1g, got {value!r}")
    return value


def _java() -> str:
    """The java binary (JAVA_HOME first, like Neo4j's own scripts)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise StackError("java not found; install a JDK 17+ (Debian: openjdk-17-jdk-headless)")
    return found


def _redis_server(echo: Echo) -> str:
    """The redis-server binary, installing Debian's package when we are root and it's missing."""
    found = shutil.which("redis-server")
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            "redis-server not found; install the Debian package 'redis-server' "
            "(sudo apt-get install redis-server)"
        )
    echo("redis-server not found; installing Debian package redis-server")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "redis-server"]
    if subprocess.run(install, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
        if subprocess.run(install, env=env, check=False).returncode != 0:
            raise StackError("apt-get install redis-server failed; install it by hand")
    # apt-get leaves the Debian service enabled on the default port; we run our own instance.
    found = shutil.which("redis-server")
    if found is None:
        raise StackError("redis-server still not on PATH after installing it")
    return found


def ensure_neo4j_jars(echo: Echo = print) -> Path:
    """Resolve Neo4j's jars into the cache once; a marker (pom hash) lets later runs skip mvn."""
    cache = cache_dir()
    lib = cache / "lib"
    marker = cache / "lib.complete"
    pom_hash = hashlib.sha256(POM_FILE.read_bytes()).hexdigest()
    if marker.exists() and marker.read_text().strip() == pom_hash and lib.is_dir():
        return lib
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another checkout may be resolving right now
        try:
            if marker.exists() and marker.read_text().strip() == pom_hash and lib.is_dir():
                return lib
            mvn = shutil.which("mvn")
            if mvn is None:
                raise StackError("mvn not found; install Maven (Debian package 'maven')")
            echo(f"neo4j: resolving Neo4j {NEO4J_VERSION} jars with Maven into {lib} (once)")
            staging = cache / f"lib.partial-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            result = subprocess.run(
                [
                    mvn,
                    "-B",
                    "-q",
                    "-f",
                    str(POM_FILE),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={staging}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0 or not any(staging.glob("neo4j-bolt-*.jar")):
                shutil.rmtree(staging, ignore_errors=True)
                output = "\n".join((result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:])
                raise StackError(f"mvn failed to resolve Neo4j jars:\n{output}")
            shutil.rmtree(lib, ignore_errors=True)
            staging.rename(lib)
            marker.write_text(pom_hash + "\n")
            return lib
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- commands


def neo4j_command(settings: Settings, lib: Path) -> list[str]:
    """The JVM command line for the embedded server (public so it can be shown/debugged)."""
    heap = _validate_memory(settings.neo4j_heap, "QUANZI_NEO4J_HEAP")
    pagecache = _validate_memory(settings.neo4j_pagecache, "QUANZI_NEO4J_PAGECACHE")
    return [
        _java(),
        f"-Xmx{heap}",
        f"-Xms{heap}",
        *JVM_FLAGS,
        "-cp",
        f"{lib}/*",
        str(LAUNCHER_FILE),
        "--home",
        str(_stack_dir(settings) / "neo4j"),
        "--host",
        "127.0.0.1",
        "--port",
        str(settings.neo4j_port),
        "--pagecache",
        pagecache,
    ]


ADMIN_MAIN_CLASS = "org.neo4j.cli.AdminTool"  # neo4j-admin, in neo4j-command-line-*.jar


def neo4j_admin_import_command(
    settings: Settings,
    lib: Path,
    nodes: Sequence[tuple[str, Path]],
    relationships: Sequence[tuple[str, Path]],
    *,
    replace: bool,
    max_off_heap: str,
) -> list[str]:
    """``neo4j-admin database import full`` for the stack's ``neo4j`` database.

    The files carry their own header row; empty cells are "no property" (as ``coalesce``
    leaves a phone hash or a location unset online).
    """
    heap = _validate_memory(settings.neo4j_heap, "QUANZI_NEO4J_HEAP")
    off_heap = _validate_memory(max_off_heap, "max off-heap memory")
    root = _stack_dir(settings)
    return [
        _java(),
        f"-Xmx{heap}",
        *JVM_FLAGS,
        "-cp",
        f"{lib}/*",
        ADMIN_MAIN_CLASS,
        "database",
        "import",
        "full",
        "neo4j",  # first: --nodes/--relationships take every argument after them as files
        f"--overwrite-destination={'true' if replace else 'false'}",
        "--ignore-empty-strings=true",
        f"--max-off-heap-memory={off_heap}",
        f"--report-file={root / 'logs' / 'neo4j-admin-import.report'}",
        *(f"--nodes={label}={path}" for label, path in nodes),
        *(f"--relationships={kind}={path}" for kind, path in relationships),
    ]


def bulk_import(
    settings: Settings,
    nodes: Sequence[tuple[str, Path]],
    relationships: Sequence[tuple[str, Path]],
    *,
    replace: bool = False,
    max_off_heap: str = "2g",
    echo: Echo = print,
) -> float:
    """Write the stack's ``neo4j`` database from neo4j-admin CSV files; returns seconds.

    Only with Neo4j stopped (the importer writes the store files the server holds open);
    ``replace`` deletes the existing database first. Knows nothing of the graph model:
    ``graph/bulk.py`` writes the files, ``quanzi bulk-import`` glues the two.
    """
    lib = ensure_neo4j_jars(echo)
    root = _stack_dir(settings)
    with _stack_lock(settings, settings.stack_timeout_seconds):
        record = _live_record(settings, "neo4j")
        if record is not None or port_in_use(settings.neo4j_port):
            raise StackError(
                "neo4j is running (or its port is taken); a bulk import needs it stopped: "
                "quanzi stack down"
            )
        home = root / "neo4j"
        home.mkdir(parents=True, exist_ok=True)
        (root / "logs").mkdir(parents=True, exist_ok=True)
        log_path = _log_file(settings, "neo4j-admin")
        argv = neo4j_admin_import_command(
            settings, lib, nodes, relationships, replace=replace, max_off_heap=max_off_heap
        )
        # No conf directory: the defaults put data/ under the home, as Launcher.java does.
        env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")}
        started = time.perf_counter()
        with log_path.open("ab") as log:
            log.write(f"\n===== neo4j-admin import {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            log.flush()
            result = subprocess.run(
                argv,
                cwd=home,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
            )
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise StackError(
                f"neo4j-admin import failed (exit {result.returncode}); log {log_path}:\n"
                f"{log_tail(log_path)}"
            )
        echo(f"neo4j-admin: imported in {seconds:.1f}s (log {log_path})")
        return seconds


def _redis_dir(settings: Settings, name: str) -> Path:
    if name.startswith("redis-"):
        return _stack_dir(settings) / "redis-cluster" / str(_service_port(settings, name))
    return _stack_dir(settings) / "redis"


def redis_command(settings: Settings, binary: str, name: str = "redis") -> list[str]:
    """redis-server args: loopback only, AOF persistence, no RDB snapshots, logs to stdout;
    a cluster node (``redis-N``) also keeps its cluster state in ``nodes.conf``, and only
    the slots of a failed master stop answering while its replica takes over."""
    cluster: list[str] = []
    if name.startswith("redis-"):
        cluster = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(CLUSTER_NODE_TIMEOUT_MS),
            "--cluster-require-full-coverage",
            "no",
        ]
    return [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(_service_port(settings, name)),
        "--dir",
        str(_redis_dir(settings, name)),
        *cluster,
        "--appendonly",
        "yes",
        "--daemonize",
        "no",
        "--save",
        "",
        "--logfile",
        "",
        # Timelines hold up to QUANZI_TIMELINE_LENGTH (800) entries: keep them in the compact
        # listpack encoding (about 20 bytes an entry instead of about 100 as a skiplist).
        "--zset-max-listpack-entries",
        "1024",
    ]


def _start(settings: Settings, name: str, echo: Echo) -> PidRecord:
    root = _stack_dir(settings)
    if name == "neo4j":
        lib = ensure_neo4j_jars(echo)
        (root / "neo4j").mkdir(parents=True, exist_ok=True)
        argv = neo4j_command(settings, lib)
        cwd = root / "neo4j"
    else:
        argv = redis_command(settings, _redis_server(echo), name)
        cwd = _redis_dir(settings, name)
        cwd.mkdir(parents=True, exist_ok=True)
    record = _spawn(settings, name, argv, cwd)
    echo(f"{name}: started pid {record.pid} on 127.0.0.1:{record.port}")
    return record


def _wait_healthy(settings: Settings, pending: dict[str, PidRecord], echo: Echo) -> None:
    """Poll until every pending service answers, fails, or the stack timeout passes."""
    deadline = time.monotonic() + settings.stack_timeout_seconds
    started = time.monotonic()
    pending = dict(pending)
    while pending:
        for name, record in list(pending.items()):
            if not _is_running(record):
                raise StackError(
                    f"{name} exited during startup; last lines of "
                    f"{_log_file(settings, name)}:\n{log_tail(_log_file(settings, name))}"
                )
            if _healthy(name, record.port):
                echo(f"{name}: healthy after {time.monotonic() - started:.1f}s")
                del pending[name]
        if not pending:
            return
        if time.monotonic() > deadline:
            name = next(iter(pending))
            raise StackError(
                f"{name} not healthy after {settings.stack_timeout_seconds:.0f}s; last lines of "
                f"{_log_file(settings, name)}:\n{log_tail(_log_file(settings, name))}"
            )
        time.sleep(0.5)


def _form_cluster(settings: Settings, echo: Echo) -> None:
    """Make the six running nodes one cluster (``redis-cli --cluster create``) unless they
    are one already (their ``nodes.conf`` kept it across a restart), then wait until every
    node says the cluster is ok."""
    ports = cluster_ports(settings)
    infos = [cluster_info(port) for port in ports]
    if all(_cluster_ok(port) for port in ports):
        echo(f"redis cluster: ok on ports {ports[0]}-{ports[-1]}")
        return
    fresh = all(
        info.get("cluster_known_nodes") == "1" and info.get("cluster_slots_assigned") == "0"
        for info in infos
    )
    if fresh:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise StackError("redis-cli not found; install the Debian package 'redis-tools'")
        echo(f"redis cluster: creating 3 masters + 3 replicas on ports {ports[0]}-{ports[-1]}")
        result = subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in ports),
                "--cluster-replicas",
                str(CLUSTER_REPLICAS),
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=settings.stack_timeout_seconds,
        )
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-LOG_TAIL_LINES:])
            raise StackError(f"redis-cli --cluster create failed:\n{output}")
    deadline = time.monotonic() + settings.stack_timeout_seconds
    while not all(_cluster_ok(port) for port in ports):
        if time.monotonic() > deadline:
            states = {port: cluster_info(port).get("cluster_state", "?") for port in ports}
            raise StackError(
                f"redis cluster not ok after {settings.stack_timeout_seconds:.0f}s: {states}; "
                f"if it was half formed, run `quanzi stack down` and remove "
                f"{_stack_dir(settings) / 'redis-cluster'}"
            )
        time.sleep(0.5)
    echo(f"redis cluster: ok on ports {ports[0]}-{ports[-1]}")


def up(settings: Settings, services: Sequence[str] = SERVICES, echo: Echo = print) -> None:
    """Start whatever is not already running and wait until all services are healthy.

    Idempotent: a service whose pid file names our live process is left alone (only waited
    for). Raises StackError, after stopping anything this call started, on port conflicts,
    startup crashes or timeouts.
    """
    unknown = set(services) - set(SERVICES)
    if unknown:
        raise StackError(f"unknown service(s): {', '.join(sorted(unknown))}")
    ordered = [p for name in SERVICES if name in services for p in _processes(settings, name)]
    with _stack_lock(settings, settings.stack_timeout_seconds):
        for sub in ("run", "logs"):
            (_stack_dir(settings) / sub).mkdir(parents=True, exist_ok=True)
        waiting: dict[str, PidRecord] = {}
        to_start: list[str] = []
        for name in ordered:
            record = _live_record(settings, name)
            if record is None:
                _pid_file(settings, name).unlink(missing_ok=True)
                to_start.append(name)
                continue
            wanted = _service_port(settings, name)
            if record.port != wanted:
                raise StackError(
                    f"{name} is already running (pid {record.pid}) on port {record.port}, "
                    f"not {wanted}; run `quanzi stack down` first"
                )
            echo(f"{name}: already running (pid {record.pid}, port {record.port})")
            waiting[name] = record
        for name in to_start:  # check every port before starting anything
            _check_port_free(settings, name)
        started: list[str] = []
        try:
            for name in to_start:
                waiting[name] = _start(settings, name, echo)
                started.append(name)
            _wait_healthy(settings, waiting, echo)
            if "redis" in services and settings.redis_cluster:
                _form_cluster(settings, echo)
        except BaseException:
            for name in reversed(started):
                _terminate(settings, name, lambda _msg: None)
            raise


def down(settings: Settings, services: Sequence[str] = SERVICES, echo: Echo = print) -> None:
    """Stop the processes our pid files name (never anything else). Idempotent."""
    with _stack_lock(settings, settings.stack_timeout_seconds):
        # Neo4j first: it takes longer to checkpoint, and the app depends on both anyway.
        for name in SERVICES:
            if name in services:
                for process in _processes(settings, name):
                    _terminate(settings, process, echo)


def status(settings: Settings) -> list[ServiceStatus]:
    """Health of each service, read-only (stale pid files are reported, not removed)."""
    result: list[ServiceStatus] = []
    for name in (p for service in SERVICES for p in _processes(settings, service)):
        record = _live_record(settings, name)
        if record is None:
            port = _service_port(settings, name)
            detail = "port in use by another process" if port_in_use(port) else ""
            result.append(ServiceStatus(name, None, port, "stopped", detail))
            continue
        health: Health = "healthy" if _healthy(name, record.port) else "unhealthy"
        result.append(ServiceStatus(name, record.pid, record.port, health))
    return result
