"""A real Prometheus server (Debian's ``prometheus`` package), run by the lab and tests.

:class:`PrometheusServer` starts ``prometheus`` on a free loopback port with its
own data directory, optionally after backfilling history with ``promtool tsdb
create-blocks-from openmetrics``, waits until it answers, and stops it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml


class PrometheusMissing(RuntimeError):
    """The prometheus/promtool binaries are not installed."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binaries() -> tuple[str, str]:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        raise PrometheusMissing(
            "prometheus is not installed: `apt-get install prometheus` (make test does it as root)"
        )
    return prometheus, promtool


class PrometheusServer:
    """One Prometheus process with its own data directory."""

    def __init__(
        self,
        scrape_configs: list[dict[str, Any]] | None = None,
        scrape_interval_s: float = 1.0,
        rule_files: list[Path] | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.prometheus, self.promtool = binaries()
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="prometheus-"))
        self.data = self.workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.config = self.workdir / "prometheus.yml"
        every = f"{round(scrape_interval_s * 1000)}ms"
        global_ = {"scrape_interval": every, "evaluation_interval": every}
        document: dict[str, Any] = {"global": global_, "scrape_configs": scrape_configs or []}
        if rule_files:
            document["rule_files"] = [str(p) for p in rule_files]
        self.config.write_text(yaml.safe_dump(document))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def backfill(self, openmetrics_text: str) -> None:
        """Write history into the data directory (before :meth:`start`)."""
        source = self.workdir / "history.om"
        source.write_text(openmetrics_text)
        result = subprocess.run(
            [
                self.promtool,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(source),
                str(self.data),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"promtool backfill failed: {result.stderr.strip()[-500:]}")

    def start(self, timeout_s: float = 30.0) -> PrometheusServer:
        self.port = free_port()
        log = (self.workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                self.prometheus,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=100y",
                "--web.enable-lifecycle",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"prometheus did not become ready: {self.log_tail()}")

    def log_tail(self) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace")[-1000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
