import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SecretsService } from "../../gen/secrets/v1/secrets_pb.js";

/** A connect client speaking gRPC over HTTP/2, with a bearer token. */
export function connectGrpcClient(baseUrl: string, token: string): Client<typeof SecretsService> {
  const transport = createGrpcTransport({
    baseUrl,
    interceptors: [(next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    }],
  });
  return createClient(SecretsService, transport);
}

/** Connect JSON over plain HTTP POST, as curl would send it. */
export async function connectJson(
  baseUrl: string,
  method: string,
  body: unknown,
  token?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}/secrets.v1.SecretsService/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
