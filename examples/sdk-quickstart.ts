// The TypeScript SDK in a few lines: run it against `npm run dev` with
//   SECRETS_TOKEN=$(npm run --silent dev-token) bash scripts/with-node.sh tsx examples/sdk-quickstart.ts
// (SECRETS_ADDR defaults to the dev server, 127.0.0.1:50051, plaintext HTTP/2).
import { Code, ConnectError } from "@connectrpc/connect";
import { createSecretsClient } from "../src/client/index.js";

const client = createSecretsClient({
  address: process.env.SECRETS_ADDR ?? "127.0.0.1:50051",
  plaintext: true, // a dev server; leave it out (TLS) for a real one, and pass `tls: { ca }` if needed
  token: process.env.SECRETS_TOKEN ?? "",
  timeoutMs: 5_000, // each unary call's deadline; UNAVAILABLE is retried with backoff for safe calls
});

const name = `quickstart_${Date.now()}`;
await client.createSecret({ name, value: "sk_test_123", description: "made by the SDK quickstart" });
await client.putSecretValue({ name, value: "sk_test_456" });

const latest = await client.getSecretValue({ name });
const first = await client.getSecretValue({ name, version: 1n });
console.log(`${name}: version ${latest.version} is ${latest.value.length} characters; version ${first.version} too`);

// Repeated reads from a local cache that WatchSecrets keeps right (agent workers).
const reader = client.cachingReader({ names: [name] });
await reader.ready();
await reader.getValue(name);
await reader.getValue(name);
console.log(`cached reads: ${reader.stats().hits} hit(s)`);
await reader.close();

try {
  await client.getSecretValue({ name: "no_such_secret" });
} catch (err) {
  console.log(`absent secret: ${Code[ConnectError.from(err).code]}`);
}
await client.deleteSecret({ name, force: true });
