"""A round trip through secrets.v1 with the generated Python package (gen/python, installed into the
venv of scripts/client-tools.sh): create a secret, read it, put version 2, read version 1, list it, and
expect NOT_FOUND for an absent name. Prints a JSON summary on success; exits 1 with a message otherwise.

    python roundtrip.py [--addr 127.0.0.1:50051] [--token JWT] [--name NAME]

--addr and --token default to $SECRETS_ADDR and $SECRETS_TOKEN (plaintext h2c gRPC, bearer token).
The values written are "v1:NAME" and "v2:NAME"; they are never printed.
"""

import argparse
import json
import os
import secrets  # the standard library's: the generated package must not shadow it
import sys

import grpc

import secrets_service_client
from secrets_service_client.secrets.v1 import secrets_pb2, secrets_pb2_grpc

DEADLINE_S = 60.0


class Failure(Exception):
    pass


def check(ok, what):
    if not ok:
        raise Failure(what)


def run(addr, token, name):
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(addr) as channel:
        stub = secrets_pb2_grpc.SecretsServiceStub(channel)

        def call(method, request):
            return method(request, metadata=metadata, timeout=DEADLINE_S)

        created = call(stub.CreateSecret, secrets_pb2.CreateSecretRequest(
            name=name, value=f"v1:{name}", description="python client", metadata={"client": "python"}))
        check(created.secret.name == name, f"CreateSecret answered name {created.secret.name!r}")
        check(created.secret.latest_version == 1, f"CreateSecret answered latest_version {created.secret.latest_version}")

        value = call(stub.GetSecretValue, secrets_pb2.GetSecretValueRequest(name=name))
        check(value.version == 1 and value.value == f"v1:{name}", f"GetSecretValue after create answered version {value.version}")

        put = call(stub.PutSecretValue, secrets_pb2.PutSecretValueRequest(name=name, value=f"v2:{name}"))
        check(put.version.version == 2, f"PutSecretValue answered version {put.version.version}")
        check(put.secret.latest_version == 2, f"PutSecretValue answered latest_version {put.secret.latest_version}")

        latest = call(stub.GetSecretValue, secrets_pb2.GetSecretValueRequest(name=name))
        check(latest.version == 2 and latest.value == f"v2:{name}", f"GetSecretValue of the latest answered version {latest.version}")

        first = call(stub.GetSecretValue, secrets_pb2.GetSecretValueRequest(name=name, version=1))
        check(first.version == 1 and first.value == f"v1:{name}", f"GetSecretValue of version 1 answered version {first.version}")

        listed = None
        page_token = ""
        while True:
            page = call(stub.ListSecrets, secrets_pb2.ListSecretsRequest(name_prefix=name, page_token=page_token))
            listed = listed or next((s for s in page.secrets if s.name == name), None)
            page_token = page.next_page_token
            if not page_token:
                break
        check(listed is not None, f"ListSecrets did not list {name}")
        check(listed.latest_version == 2, f"ListSecrets shows latest_version {listed.latest_version}")
        check(dict(listed.metadata) == {"client": "python"}, f"ListSecrets shows metadata {dict(listed.metadata)}")

        absent = f"{name}_absent"
        try:
            call(stub.GetSecretValue, secrets_pb2.GetSecretValueRequest(name=absent))
        except grpc.RpcError as err:
            check(err.code() == grpc.StatusCode.NOT_FOUND, f"GetSecretValue of {absent} answered {err.code().name}")
            absent_code = err.code().name
        else:
            raise Failure(f"GetSecretValue of {absent} succeeded")

    return {
        "client": "python",
        "name": name,
        "created_version": created.secret.latest_version,
        "put_version": put.version.version,
        "latest_version": latest.version,
        "version1_read": first.version,
        "listed": True,
        "absent_code": absent_code,
        "package": os.path.dirname(secrets_service_client.__file__),
        "stdlib_secrets": hasattr(secrets, "token_hex"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addr", default=os.environ.get("SECRETS_ADDR", "127.0.0.1:50051"))
    parser.add_argument("--token", default=os.environ.get("SECRETS_TOKEN", ""))
    parser.add_argument("--name", default=f"py_client_{secrets.token_hex(6)}")
    args = parser.parse_args()
    if not args.token:
        print("roundtrip.py: no token (--token or SECRETS_TOKEN)", file=sys.stderr)
        return 2
    try:
        summary = run(args.addr, args.token, args.name)
    except Failure as err:
        print(f"roundtrip.py: unexpected result: {err}", file=sys.stderr)
        return 1
    except grpc.RpcError as err:
        print(f"roundtrip.py: call failed: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
