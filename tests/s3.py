"""A local S3-compatible server for the tests: moto in server mode on a loopback port.

The server binds port 0 and reports the port the kernel gave it: no free_port() race with the
servers other test workers start at the same time."""
from __future__ import annotations

import uuid

# The s3 extra and moto[server], which CI installs: missing, every S3 test fails (s3fs is what the
# artifact store opens s3:// with).
import boto3
import s3fs  # noqa: F401
from moto.server import ThreadedMotoServer


class S3Server:
    def __init__(self):
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.port, self.endpoint = None, None

    def start(self) -> S3Server:
        self._server.start()  # returns once the server listens
        self.port = self._server.get_host_and_port()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def env(self) -> dict:
        """What a process needs to reach the server with s3fs/botocore."""
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                "MLOPS_S3_ENDPOINT_URL": self.endpoint}

    def new_bucket(self) -> str:
        """A fresh, empty bucket; returns its ``s3://`` URI with a prefix."""
        name = f"mlops-{uuid.uuid4().hex[:12]}"
        client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                              aws_secret_access_key="testing", region_name="us-east-1")
        client.create_bucket(Bucket=name)
        return f"s3://{name}/team-artifacts"
