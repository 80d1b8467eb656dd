"""Throwaway PostgreSQL and Redis servers that a benchmark or a test may pause and kill.

Each runs on a free loopback port with its data in a folder of its own, never the machine's
shared instances (5432, 6379). PostgreSQL is initialized with ``initdb`` and driven with
``pg_ctl`` (as the ``postgres`` user when running as root: initdb refuses root); Redis keeps
an append-only file written before every reply (``appendfsync always``), so a SIGKILL loses
nothing it acknowledged and a restart on the same folder finds its streams and groups again.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tastemaker.bench.server import free_port


def pg_bindir() -> Path | None:
    """The folder of ``initdb`` / ``pg_ctl`` (on the PATH, else the newest
    ``/usr/lib/postgresql/*/bin``), or None when PostgreSQL's server binaries are absent."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major)
    return Path(dirs[-1]) if dirs and Path(dirs[-1], "initdb").exists() else None


def _major(bindir: str) -> int:
    """The major version in ``/usr/lib/postgresql/<major>/bin`` (0 when not a number)."""
    name = bindir.split("/")[-2]
    return int(name) if name.isdigit() else 0


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(stat.split("/")[2]))
    return out


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class ThrowawayPostgres:
    """A PostgreSQL server on a free port, its data in a new folder under the system's
    temporary folder (which the ``postgres`` user can reach, unlike a root-only one).

    ``fsync=off``: a killed server process loses nothing written (the kernel keeps it); only a
    crash of the machine could, which no benchmark or test simulates.

    Raises:
        FileNotFoundError: the server binaries are not installed.
        subprocess.CalledProcessError: ``initdb`` failed.
    """

    def __init__(self) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.bindir, self.port = bindir, free_port()
        self.data = Path(tempfile.mkdtemp(prefix="tm-pg-"))
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            user = pwd.getpwnam("postgres")
            os.chown(self.data, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        try:
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "--no-sync")  # fmt: skip
        except BaseException:
            shutil.rmtree(self.data, ignore_errors=True)
            raise

    @property
    def url(self) -> str:
        """The server's URL (database ``postgres``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> str:
        cmd = [*self._as, str(self.bindir / tool), *args]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
        return done.stdout

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.data / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        """Stop at once, as a crash would (``pg_ctl stop -m immediate``: open connections are
        cut; the next start recovers from the write-ahead log)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def _pids(self) -> list[int]:
        """The postmaster and its children (backends, background processes)."""
        head = (self.data / "postmaster.pid").read_text().split("\n", 1)[0]
        postmaster = int(head)
        return [postmaster, *_children(postmaster)]

    def pause(self) -> None:
        """Freeze every server process (SIGSTOP): connections stay open, nothing answers."""
        _signal_all(self._pids(), signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw the server processes (SIGCONT)."""
        pids = self._pids()
        _signal_all(pids[1:] + pids[:1], signal.SIGCONT)

    def version(self) -> str:
        """``postgres --version`` of the binaries in use."""
        return self._run("postgres", "--version").strip()

    def remove(self, keep: bool = False) -> None:
        """Stop the server if it runs (thawing it first) and delete its folder unless
        ``keep``."""
        with contextlib.suppress(OSError, ValueError):
            _signal_all(self._pids(), signal.SIGCONT)
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop()
        if not keep:
            shutil.rmtree(self.data, ignore_errors=True)


class ThrowawayRedis:
    """A redis-server in ``folder`` on a free port, append-only file fsynced before every
    reply (``appendfsync always``); no RDB snapshots.

    Raises:
        FileNotFoundError: ``redis-server`` is not installed.
    """

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server not found")
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        """Start on the same port and folder (replaying the append-only file); wait until it
        answers PING.

        Raises:
            RuntimeError: it did not answer within ``timeout`` seconds.
        """
        import redis

        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.folder), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
             "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=1.0)
        try:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        """SIGKILL the server (no shutdown, no final write)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing answers."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw the server (SIGCONT)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def version(self) -> str:
        """``redis-server --version``."""
        done = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        return done.stdout.strip()

    def remove(self, keep: bool = False) -> None:
        """Kill the server if it runs (thawing it first) and delete its folder unless
        ``keep``."""
        self.resume()
        self.kill()
        if not keep:
            shutil.rmtree(self.folder, ignore_errors=True)
