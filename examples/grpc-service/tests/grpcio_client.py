"""Calls the example with Python's grpcio: stubs generated from the proto
at run time by grpcio-tools, the API key sent as `x-api-key` metadata.

usage: grpcio_client.py PROTO_DIR HOST:PORT READER_KEY PLAIN_KEY
Prints one line per call: what was called, then OK and the answer, or the
status code name and the `www-authenticate` metadata.
"""
import importlib
import sys
import tempfile

import grpc
from grpc_tools import protoc


def main():
    proto_dir, addr, reader, plain = sys.argv[1:5]
    out = tempfile.mkdtemp()
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}",
                      f"--grpc_python_out={out}", "reports.proto"])
    if rc != 0:
        sys.exit(f"protoc failed: {rc}")
    sys.path.insert(0, out)
    pb = importlib.import_module("reports_pb2")
    rpc = importlib.import_module("reports_pb2_grpc")

    with grpc.insecure_channel(addr) as channel:
        stub = rpc.ReportsStub(channel)

        def call(label, fn, request, key):
            metadata = [("x-api-key", key)] if key else []
            try:
                reply = fn(request, metadata=metadata, timeout=20)
            except grpc.RpcError as e:
                challenge = dict(e.trailing_metadata() or ()).get(
                    "www-authenticate") or dict(e.initial_metadata() or ()).get(
                    "www-authenticate", "")
                print(f"{label}: {e.code().name} {challenge}")
                return
            print(f"{label}: OK {reply}")

        def whoami(req, **kw):
            r = stub.WhoAmI(req, **kw)
            return f"{r.method} {' '.join(r.scopes)}"

        def report(req, **kw):
            r = stub.GetReport(req, **kw)
            return f"report {r.name}"

        call("whoami reader", whoami, pb.WhoAmIRequest(), reader)
        call("report reader", report, pb.GetReportRequest(name="q3"), reader)
        call("whoami none", whoami, pb.WhoAmIRequest(), None)
        call("report plain", report, pb.GetReportRequest(name="q3"), plain)


if __name__ == "__main__":
    main()
