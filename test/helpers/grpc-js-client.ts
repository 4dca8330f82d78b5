import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

// A SecretsService client built by @grpc/grpc-js from the .proto file alone:
// an implementation independent of the generated code and of connect.
// protobufjs (under proto-loader) ships google/protobuf/{field_mask,timestamp}.proto.

const PROTO_DIR = path.resolve(import.meta.dirname, "../../proto");

const definition = protoLoader.loadSync("secrets/v1/secrets.proto", {
  includeDirs: [PROTO_DIR],
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

type Unary = (request: object, metadata: grpc.Metadata, callback: (err: grpc.ServiceError | null, res?: any) => void) => grpc.ClientUnaryCall;

export interface GrpcJsSecretsClient {
  /** Calls a method by its proto name ("CreateSecret"); `token` undefined sends no authorization header. */
  call(method: string, request: object, token?: string): Promise<any>;
  close(): void;
}

/** `options`: grpc-js channel options ("grpc.keepalive_time_ms", ...). */
export function grpcJsSecretsClient(target: string, options?: grpc.ChannelOptions): GrpcJsSecretsClient {
  const pkg = grpc.loadPackageDefinition(definition) as any;
  const Service = pkg.secrets.v1.SecretsService as grpc.ServiceClientConstructor;
  const client = new Service(target, grpc.credentials.createInsecure(), options);
  return {
    call(method, request, token) {
      const metadata = new grpc.Metadata();
      if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
      const fn = (client as unknown as Record<string, Unary>)[method];
      if (!fn) throw new Error(`no method ${method}`);
      return new Promise((resolve, reject) => {
        fn.call(client, request, metadata, (err, res) => (err ? reject(err) : resolve(res)));
      });
    },
    close: () => client.close(),
  };
}

/** The grpc-js error a call fails with; fails the test when the call succeeds. */
export async function grpcErrorOf(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error("expected the call to fail, but it succeeded");
}
