// The bench's upstream API: HTTPS on a loopback port with a certificate from a test CA, answering
// every request with a small JSON body, as a payments API would. Its own process, so its CPU is not
// the harness's. Prints its port on stdout once it listens. Run by bench/proxy.ts.
import https from "node:https";
import type { AddressInfo } from "node:net";

const { cert, key } = JSON.parse(process.env.BENCH_UPSTREAM_TLS ?? "{}") as { cert?: string; key?: string };
if (!cert || !key) throw new Error("BENCH_UPSTREAM_TLS (cert and key PEM) is not set");
const answer = Buffer.from(JSON.stringify({ id: "ch_bench", object: "charge", amount: 2000, currency: "usd", status: "succeeded" }));
const server = https.createServer({ cert, key, keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": answer.length });
    res.end(answer);
  });
});
server.listen(0, "127.0.0.1", () => console.log((server.address() as AddressInfo).port));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
