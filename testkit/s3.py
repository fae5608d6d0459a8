"""moto's S3 server in a thread on a free loopback port."""

from __future__ import annotations


class MotoS3:
    """moto's S3 server in a thread; port 0 so that parallel runs never clash."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer  # only where S3 is wanted: it is slow

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.stop()
