import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Answers under 32 KiB go out uncompressed even when the client accepts gzip (values are random
// bytes: gzip costs CPU and saves nothing); larger ones (a long RedactText answer) are compressed.

let server: TestServer;
let token: string;

beforeAll(async () => {
  server = await startTestServer({ store: "memory", keys: "local", label: "rpc_compression", cache: false, changeFeed: false });
  token = await server.token("dev-compress");
});
afterAll(async () => server?.close());

const post = (method: string, body: unknown) =>
  fetch(`${server.baseUrl}/secrets.v1.SecretsService/${method}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "accept-encoding": "gzip" },
    body: JSON.stringify(body),
  });

describe("response compression", () => {
  it("leaves a small answer uncompressed and compresses a large one", async () => {
    expect((await post("CreateSecret", { name: "api_key", value: "sk_value_0123456789" })).status).toBe(200);
    // 4 KiB: over connect's default threshold (1 KiB), under ours.
    const certificate = "MII" + "A".repeat(4_096);
    expect((await post("CreateSecret", { name: "cert", value: certificate })).status).toBe(200);
    const small = await post("GetSecretValue", { name: "cert" });
    expect(small.status).toBe(200);
    expect(small.headers.get("content-encoding")).toBeNull();
    expect(((await small.json()) as { value: string }).value).toBe(certificate);

    const text = "log line with sk_value_0123456789 in it\n".repeat(2_000);
    const large = await post("RedactText", { text, names: [] });
    expect(large.status).toBe(200);
    expect(large.headers.get("content-encoding")).toBe("gzip");
    // fetch decodes gzip itself; the body must be the redacted text.
    const answer = (await large.json()) as { text: string; matchedNames: string[] };
    expect(answer.matchedNames).toEqual(["api_key"]);
    expect(answer.text).not.toContain("sk_value_");
    expect(answer.text).toBe(text.replaceAll("sk_value_0123456789", "[REDACTED:api_key]"));
  });
});
