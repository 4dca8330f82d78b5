import { randomBytes } from "node:crypto";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProxyHttpRequestResponse } from "../../gen/secrets/v1/secrets_pb.js";
import { createFetchWithSecrets } from "../../src/client/index.js";
import { connectGrpcClient, connectJson } from "../helpers/clients.js";
import type { Secrets } from "../helpers/lifecycle.js";
import { openRawDb, type RawDb } from "../helpers/raw-db.js";
import { connectErrorOf } from "../helpers/rpc-failures.js";
import { createTestCa, startHttpsUpstream, startHttpUpstream, type Upstream } from "../helpers/https-upstream.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// ProxyHttpRequest over the real server (FerretDB, Redis, local keys) against loopback upstreams: an
// HTTPS one signed by a test CA the server trusts, and a plain HTTP one listed as insecure. Values
// go in where references are (header, query, JSON, form and text bodies) and never come back (the
// upstreams echo what they got); the destination rules (allowed_hosts, private addresses, http,
// redirects), limits (timeout, size, concurrency), hostile input, the audit event, and a task token
// with only secrets.proxy that can use a secret but read it by no RPC.

const CALL = { timeoutMs: 60_000 };
const MAX_RESPONSE = 64 * 1024;

let server: TestServer;
let strict: TestServer;
let tls: Upstream;
let plain: Upstream;
let other: Upstream;
let raw: RawDb;

beforeAll(async () => {
  const ca = createTestCa();
  tls = await startHttpsUpstream(ca);
  other = await startHttpsUpstream(ca);
  plain = await startHttpUpstream();
  const loopback = (u: Upstream) => `127.0.0.1:${u.port}`;
  server = await startTestServer({
    store: "mongodb",
    keys: "local",
    label: "rpc_proxy",
    proxy: {
      allowPrivateHosts: [loopback(tls), loopback(other), loopback(plain), `localhost:${tls.port}`],
      insecureHosts: [loopback(plain)],
      extraCa: ca.caPem,
      maxResponseBytes: MAX_RESPONSE,
      maxConcurrency: 2,
    },
  });
  // The same CA, but no loopback address allowed: the default a deployment runs with.
  strict = await startTestServer({ store: "memory", keys: "local", label: "rpc_proxy_strict", cache: false, audit: false, changeFeed: false, proxy: { extraCa: ca.caPem } });
  raw = await openRawDb(server.fixture.db!);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([server?.close(), strict?.close(), tls?.close(), other?.close(), plain?.close()]);
});

const freshTenant = () => `dev_proxy_${randomBytes(4).toString("hex")}`;
const value = (label: string) => `sk_${label}_${randomBytes(12).toString("hex")}`;
const clientOf = async (tenant: string, extra?: Record<string, unknown>, on = server): Promise<Secrets> =>
  connectGrpcClient(on.baseUrl, await on.token(tenant, undefined, extra));
const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");
const echoed = (res: ProxyHttpRequestResponse) => JSON.parse(text(res.body)) as { method: string; path: string; query: string; headers: Record<string, string>; body: string };
const hostOf = (u: Upstream) => `127.0.0.1:${u.port}`;
/** The call's error, checked: its code, and its message (equal to a string, or matching a pattern). */
async function refused(call: Promise<unknown>, code: Code, message: string | RegExp) {
  const err = await connectErrorOf(call);
  expect(err.code, err.rawMessage).toBe(code);
  if (typeof message === "string") expect(err.rawMessage).toBe(message);
  else expect(err.rawMessage).toMatch(message);
  return err;
}
const header = (res: ProxyHttpRequestResponse, name: string) => res.headers.filter((h) => h.name === name).map((h) => h.value);

/** A tenant with one secret allowed to reach `hosts`. */
async function withSecret(hosts: string[], name = "api_key", secretValue = value(name)) {
  const tenant = freshTenant();
  const c = await clientOf(tenant);
  await c.createSecret({ name, value: secretValue, allowedHosts: hosts }, CALL);
  return { tenant, c, name, value: secretValue };
}

describe("injection and redaction", () => {
  it("puts the value in a header, the query and a JSON body; the echo comes back redacted", async () => {
    const { c, value: v } = await withSecret([hostOf(tls)]);
    const before = tls.received.length;
    const res = await c.proxyHttpRequest(
      {
        method: "POST",
        url: tls.url("/v1/charges?key={{ secrets.api_key }}&plain=a%20b"),
        headers: [
          { name: "Authorization", value: "Bearer {{ secrets.api_key }}" },
          { name: "Content-Type", value: "application/json" },
        ],
        body: Buffer.from(JSON.stringify({ amount: 12345678901234567890n.toString(), token: "{{ secrets.api_key }}", n: 1.50, nested: ["x {{ secrets.api_key }} y"] }).replace('"12345678901234567890"', "12345678901234567890")),
      },
      CALL,
    );
    expect(res.status).toBe(200);
    expect(res.names).toEqual(["api_key"]);
    expect(res.truncated).toBe(false);
    // What the upstream got: the value in each place, the rest byte for byte (the big number's digits kept).
    const got = tls.received.slice(before);
    expect(got).toHaveLength(1);
    expect(got[0]!.headers.authorization).toBe(`Bearer ${v}`);
    expect(got[0]!.query).toBe(`key=${encodeURIComponent(v)}&plain=a%20b`);
    expect(got[0]!.path).toBe("/v1/charges");
    expect(got[0]!.body.toString("utf8")).toBe(`{"amount":12345678901234567890,"token":"${v}","n":1.5,"nested":["x ${v} y"]}`);
    // What came back holds no value, in the body or the echoed headers.
    expect(text(res.body)).not.toContain(v);
    expect(JSON.stringify(res.headers)).not.toContain(v);
    expect(echoed(res).headers.authorization).toBe("Bearer [REDACTED:api_key]");
    // The upstream's content-length described its body, not the redacted one.
    expect(header(res, "content-length")).toEqual([]);
    expect(header(res, "x-echo-authorization")).toEqual(["Bearer [REDACTED:api_key]"]);
  });

  it("form and text bodies are substituted; any other body is sent as it is", async () => {
    const { c, value: v } = await withSecret([hostOf(tls)]);
    const send = async (contentType: string, body: string) => {
      const before = tls.received.length;
      await c.proxyHttpRequest({ method: "PUT", url: tls.url("/x?k={{ secrets.api_key }}"), headers: [{ name: "content-type", value: contentType }], body: Buffer.from(body) }, CALL);
      return tls.received[before]!.body.toString("utf8");
    };
    expect(await send("application/x-www-form-urlencoded", "a=1&key={{+secrets.api_key+}}&b=%7B%7B")).toBe(`a=1&key=${encodeURIComponent(v)}&b=%7B%7B`);
    expect(await send("text/plain; charset=utf-8", "token: {{ secrets.api_key }}!")).toBe(`token: ${v}!`);
    expect(await send("application/octet-stream", "token: {{ secrets.api_key }}")).toBe("token: {{ secrets.api_key }}");
  });

  it("a pinned version and an encoded echo: every form of every injected value is redacted", async () => {
    const { c, value: v1 } = await withSecret([hostOf(tls)]);
    const v2 = value("second");
    await c.putSecretValue({ name: "api_key", value: v2 }, CALL);
    tls.route("/encode", (req, res) => {
      const parsed = JSON.parse(req.body.toString()) as { old: string; now: string };
      res.writeHead(200, { "content-type": "text/plain", location: `https://elsewhere.test/?t=${encodeURIComponent(parsed.now)}` });
      res.end([parsed.old, Buffer.from(parsed.now).toString("base64"), Buffer.from(parsed.old).toString("base64url"), encodeURIComponent(parsed.now), JSON.stringify(`"${parsed.now}"`)].join("\n"));
    });
    const res = await c.proxyHttpRequest(
      { method: "POST", url: tls.url("/encode"), headers: [{ name: "content-type", value: "application/json" }], body: Buffer.from('{"old":"secret://api_key@1","now":"{{ secrets.api_key }}"}') },
      CALL,
    );
    const out = text(res.body);
    for (const v of [v1, v2]) {
      for (const form of [v, Buffer.from(v).toString("base64"), Buffer.from(v).toString("base64url"), encodeURIComponent(v)]) expect(out).not.toContain(form);
    }
    expect(out.split("\n")).toEqual(["[REDACTED:api_key]", "[REDACTED:api_key]", "[REDACTED:api_key]", "[REDACTED:api_key]", '"\\"[REDACTED:api_key]\\""']);
    expect(header(res, "location")).toEqual(["https://elsewhere.test/?t=[REDACTED:api_key]"]);
  });

  it("a binary answer that is not UTF-8 is redacted byte for byte, and its other bytes are kept", async () => {
    const { c, value: v } = await withSecret([hostOf(tls)]);
    const prefix = Buffer.from([0xff, 0xfe, 0x00, 0x80]);
    tls.route("/binary", (_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(Buffer.concat([prefix, Buffer.from(v), prefix]));
    });
    const res = await c.proxyHttpRequest({ method: "GET", url: tls.url("/binary?k={{ secrets.api_key }}") }, CALL);
    expect(Buffer.from(res.body).equals(Buffer.concat([prefix, Buffer.from("[REDACTED:api_key]"), prefix]))).toBe(true);
  });

  it("a value echoed as a header name is redacted too", async () => {
    const { c, value: v } = await withSecret([hostOf(tls)]);
    tls.route("/name", (_req, res) => {
      res.setHeader(`x-${v}`, "1");
      res.writeHead(204);
      res.end();
    });
    const res = await c.proxyHttpRequest({ method: "GET", url: tls.url("/name?k={{ secrets.api_key }}") }, CALL);
    expect(res.headers.map((h) => h.name)).toContain("x-[REDACTED:api_key]");
    expect(JSON.stringify(res.headers)).not.toContain(v);
  });

  it("a gzip answer is decoded before it is redacted", async () => {
    const { gzipSync } = await import("node:zlib");
    const { c, value: v } = await withSecret([hostOf(tls)]);
    tls.route("/gzip", (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", "content-encoding": "gzip" });
      res.end(gzipSync(Buffer.from(`echo ${v}`)));
    });
    const res = await c.proxyHttpRequest({ method: "GET", url: tls.url("/gzip?k={{ secrets.api_key }}") }, CALL);
    expect(text(res.body)).toBe("echo [REDACTED:api_key]");
    expect(header(res, "content-encoding")).toEqual([]);
  });

  it("over Connect JSON (curl's protocol) and through fetchWithSecrets", async () => {
    const { tenant, value: v } = await withSecret([hostOf(tls)]);
    const token = await server.token(tenant);
    const json = await connectJson(server.baseUrl, "ProxyHttpRequest", { method: "GET", url: tls.url("/j"), headers: [{ name: "x-key", value: "{{ secrets.api_key }}" }] }, token);
    expect(json.status).toBe(200);
    expect(json.json.names).toEqual(["api_key"]);
    expect(Buffer.from(json.json.body as string, "base64").toString()).toContain('"x-key":"[REDACTED:api_key]"');

    const fetchWithSecrets = createFetchWithSecrets(connectGrpcClient(server.baseUrl, token));
    const res = await fetchWithSecrets(tls.url("/f?q={{ secrets.api_key }}"), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ k: "{{ secrets.api_key }}" }) });
    expect([res.status, res.secretNames, res.truncated, res.headers.get("content-type")]).toEqual([200, ["api_key"], false, "application/json"]);
    const body = (await res.json()) as { body: string; query: string };
    expect(body.body).toBe('{"k":"[REDACTED:api_key]"}');
    expect(JSON.stringify(body)).not.toContain(v);
  });
});

describe("where a value may go", () => {
  it("a host outside allowed_hosts: PERMISSION_DENIED naming the secret and the host; the upstream saw nothing", async () => {
    const { c } = await withSecret([hostOf(tls)]);
    const before = other.received.length;
    await refused(c.proxyHttpRequest({ method: "GET", url: other.url("/?k={{ secrets.api_key }}") }, CALL), Code.PermissionDenied, `secret "api_key" may not be sent to ${hostOf(other)} (not among its allowed_hosts)`);
    // The same host on another port, and the host without a port (443), are other destinations too.
    await refused(c.proxyHttpRequest({ method: "GET", url: `https://localhost:${tls.port}/?k={{ secrets.api_key }}` }, CALL), Code.PermissionDenied, /may not be sent to localhost/);
    expect(other.received.length).toBe(before);
  });

  it("every referenced secret must allow the host; one that does not stops the call", async () => {
    const { c } = await withSecret([hostOf(tls)]);
    await c.createSecret({ name: "db_password", value: value("db"), allowedHosts: [hostOf(other)] }, CALL);
    const before = tls.received.length;
    await refused(
      c.proxyHttpRequest({ method: "GET", url: tls.url("/"), headers: [{ name: "a", value: "{{ secrets.api_key }}" }, { name: "b", value: "{{ secrets.db_password }}" }] }, CALL),
      Code.PermissionDenied,
      `secret "db_password" may not be sent to ${hostOf(tls)} (not among its allowed_hosts)`,
    );
    expect(tls.received.length).toBe(before);
  });

  it("a secret without allowed_hosts is never sent; UpdateSecret sets and clears the list, and the next call sees it", async () => {
    const { c } = await withSecret([]);
    const call = () => c.proxyHttpRequest({ method: "GET", url: tls.url("/?k={{ secrets.api_key }}") }, CALL);
    await refused(call(), Code.PermissionDenied, 'secret "api_key" has no allowed_hosts: it is never sent anywhere');
    const updated = await c.updateSecret({ name: "api_key", allowedHosts: [hostOf(tls), "*.example.com", "API.Example.org:8443", "api.example.org:8443"] }, CALL);
    expect(updated.secret?.allowedHosts).toEqual([hostOf(tls), "*.example.com", "api.example.org:8443"].sort());
    expect((await call()).status).toBe(200);
    await c.updateSecret({ name: "api_key", updateMask: { paths: ["allowed_hosts"] } }, CALL);
    expect((await c.getSecret({ name: "api_key" }, CALL)).secret?.allowedHosts).toEqual([]);
    await refused(call(), Code.PermissionDenied, /has no allowed_hosts/);
  });

  it("a redirect is returned, not followed", async () => {
    const { c } = await withSecret([hostOf(tls), hostOf(other)]);
    tls.route("/moved", (_req, res) => {
      res.writeHead(302, { location: other.url("/landing") });
      res.end();
    });
    const before = { tls: tls.received.length, other: other.received.length };
    const res = await c.proxyHttpRequest({ method: "GET", url: tls.url("/moved?k={{ secrets.api_key }}") }, CALL);
    expect([res.status, header(res, "location")]).toEqual([302, [other.url("/landing")]]);
    expect([tls.received.length - before.tls, other.received.length - before.other]).toEqual([1, 0]);
  });

  it("loopback is refused unless the host is in PROXY_ALLOW_PRIVATE_HOSTS", async () => {
    const tenant = freshTenant();
    const c = await clientOf(tenant, undefined, strict);
    await c.createSecret({ name: "api_key", value: value("strict"), allowedHosts: [hostOf(tls)] }, CALL);
    const before = tls.received.length;
    await refused(c.proxyHttpRequest({ method: "GET", url: tls.url("/?k={{ secrets.api_key }}") }, CALL), Code.PermissionDenied, /private or reserved address/);
    expect(tls.received.length).toBe(before);
  });

  it("plain http only for PROXY_INSECURE_HOSTS", async () => {
    const { c, value: v } = await withSecret([hostOf(plain), `127.0.0.1:${tls.port}`]);
    const before = plain.received.length;
    const res = await c.proxyHttpRequest({ method: "GET", url: `http://${hostOf(plain)}/?k={{ secrets.api_key }}` }, CALL);
    expect(res.status).toBe(200);
    expect(plain.received[before]!.query).toBe(`k=${v}`);
    await refused(c.proxyHttpRequest({ method: "GET", url: `http://${hostOf(tls)}/?k={{ secrets.api_key }}` }, CALL), Code.PermissionDenied, /use https/);
  });
});

describe("limits", () => {
  it("an upstream that does not answer in time: UNAVAILABLE, and the server keeps serving", async () => {
    const { c } = await withSecret([hostOf(tls)]);
    tls.route("/hang", () => {});
    await refused(c.proxyHttpRequest({ method: "GET", url: tls.url("/hang?k={{ secrets.api_key }}"), timeout: durationFromMs(300) }, CALL), Code.Unavailable, /did not answer within 300 ms/);
    expect((await c.proxyHttpRequest({ method: "GET", url: tls.url("/ok?k={{ secrets.api_key }}") }, CALL)).status).toBe(200);
  });

  it("an answer over PROXY_MAX_RESPONSE_BYTES is cut and marked truncated; no part of a value at the cut comes back", async () => {
    const { c, value: v } = await withSecret([hostOf(tls)]);
    tls.route("/big", (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      // The value straddles the cut: its first half is within the limit.
      res.end("x".repeat(MAX_RESPONSE - 10) + v + "y".repeat(MAX_RESPONSE));
    });
    const res = await c.proxyHttpRequest({ method: "GET", url: tls.url("/big?k={{ secrets.api_key }}") }, CALL);
    expect(res.truncated).toBe(true);
    expect(res.body.length).toBeLessThanOrEqual(MAX_RESPONSE);
    expect(res.body.length).toBeGreaterThan(MAX_RESPONSE - 10 - 3 * 64 * 6);
    expect(text(res.body)).toMatch(/^x+$/);
  });

  it("at most PROXY_MAX_CONCURRENCY calls of one developer in flight; another developer is not held up", async () => {
    const { c } = await withSecret([hostOf(tls)]);
    const { c: d } = await withSecret([hostOf(tls)]);
    const held: (() => void)[] = [];
    tls.route("/hold", (_req, res) => {
      held.push(() => {
        res.writeHead(200);
        res.end("done");
      });
    });
    const call = (client: Secrets) => client.proxyHttpRequest({ method: "GET", url: tls.url("/hold?k={{ secrets.api_key }}") }, CALL);
    const first = [call(c), call(c)];
    const deadline = Date.now() + 30_000;
    while (held.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(held.length).toBe(2);
    await refused(call(c), Code.ResourceExhausted, /2 proxied calls of this developer are in flight/);
    const third = call(d);
    while (held.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const release of held) release();
    expect((await Promise.all([...first, third])).map((r) => r.status)).toEqual([200, 200, 200]);
  });
});

describe("hostile requests: INVALID_ARGUMENT naming the field, nothing sent", () => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ["no reference at all", { method: "GET", url: "URL/" }, "url", /references no secret/],
    ["a reference in the path", { method: "GET", url: "URL/{{ secrets.api_key }}/x" }, "url", /in its path/],
    ["a method outside the list", { method: "CONNECT", url: "URL/?k={{ secrets.api_key }}" }, "method", /is not one of/],
    ["a relative URL", { method: "GET", url: "/v1?k={{ secrets.api_key }}" }, "url", /not an absolute URL/],
    ["another scheme", { method: "GET", url: "ftp://127.0.0.1/?k={{ secrets.api_key }}" }, "url", /scheme ftp: is not https/],
    ["credentials in the URL", { method: "GET", url: "https://u:p@127.0.0.1/?k={{ secrets.api_key }}" }, "url", /user name or password/],
    ["a header name that is no token", { method: "GET", url: "URL/", headers: [{ name: "bad name", value: "{{ secrets.api_key }}" }] }, "headers[0].name", /is not a header name/],
    ["CR LF in a header value", { method: "GET", url: "URL/", headers: [{ name: "x", value: "{{ secrets.api_key }}\r\nx-injected: 1" }] }, "headers[0].value", /line break/],
    ["101 headers", { method: "GET", url: "URL/?k={{ secrets.api_key }}", headers: Array.from({ length: 101 }, (_, i) => ({ name: `h${i}`, value: "v" })) }, "headers", /at most 100/],
    ["a timeout over 60 s", { method: "GET", url: "URL/?k={{ secrets.api_key }}", timeout: durationFromMs(61_000) }, "timeout", /at most 60s/],
    ["a JSON body that is not JSON", { method: "POST", url: "URL/", headers: [{ name: "content-type", value: "application/json" }], body: Buffer.from('{"k": "{{ secrets.api_key }}"') }, "body", /not valid JSON/],
    ["a text body that is not UTF-8", { method: "POST", url: "URL/", headers: [{ name: "content-type", value: "text/plain" }], body: Buffer.from([0xff, 0xfe]) }, "body", /not valid UTF-8/],
  ];
  it.each(cases)("%s", async (_label, request, field, message) => {
    const { c, value: v } = await withSecret([hostOf(tls)]);
    const before = tls.received.length;
    const req = { ...request, url: String(request.url).replace("URL", `https://${hostOf(tls)}`) };
    const err = await refused(c.proxyHttpRequest(req, CALL), Code.InvalidArgument, message);
    expect(err.rawMessage.startsWith(`${field}:`), err.rawMessage).toBe(true);
    expect(err.rawMessage).not.toContain(v);
    expect(tls.received.length).toBe(before);
  });

  it("a secret value with a line break cannot add a header", async () => {
    const { c } = await withSecret([hostOf(tls)], "api_key", "abc\r\nx-injected: yes");
    const before = tls.received.length;
    const err = await refused(c.proxyHttpRequest({ method: "GET", url: tls.url("/"), headers: [{ name: "x-key", value: "{{ secrets.api_key }}" }] }, CALL), Code.InvalidArgument, /headers\[0\]\.value: with the secret put in/);
    expect(err.rawMessage).not.toContain("x-injected");
    expect(tls.received.length).toBe(before);
  });

  it("hop-by-hop, Host and Proxy-* headers are not forwarded; the caller's authorization for this service never is", async () => {
    const { c } = await withSecret([hostOf(tls)]);
    const before = tls.received.length;
    await c.proxyHttpRequest(
      {
        method: "GET",
        url: tls.url("/h"),
        headers: ["connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "upgrade", "host", "transfer-encoding"].map((name) => ({ name, value: "x" })).concat([{ name: "x-key", value: "{{ secrets.api_key }}" }]),
      },
      CALL,
    );
    const got = tls.received[before]!.headers;
    for (const name of ["keep-alive", "proxy-authorization", "proxy-connection", "te", "upgrade", "transfer-encoding", "authorization"]) expect(got[name], name).toBeUndefined();
    expect(got.host).toBe(hostOf(tls));
  });

  it("allowed_hosts that are not host patterns: INVALID_ARGUMENT naming the element", async () => {
    const c = await clientOf(freshTenant());
    await refused(c.createSecret({ name: "k", value: "v", allowedHosts: ["api.stripe.com", "https://api.stripe.com/"] }, CALL), Code.InvalidArgument, /^allowed_hosts\[1\]:/);
    await c.createSecret({ name: "k", value: "v" }, CALL);
    await refused(c.updateSecret({ name: "k", allowedHosts: ["*"] }, CALL), Code.InvalidArgument, /^allowed_hosts\[0\]:/);
  });
});

describe("secrets.proxy without secrets.access", () => {
  it("a task token with only secrets.proxy makes the call, and reads the value by no RPC", async () => {
    const { c, value: v } = await withSecret([hostOf(tls)]);
    const minted = await c.createTaskToken({ secrets: ["api_key"], scopes: ["secrets.proxy"], label: "proxy step" }, CALL);
    const task = connectGrpcClient(server.baseUrl, minted.token);
    const res = await task.proxyHttpRequest({ method: "GET", url: tls.url("/t"), headers: [{ name: "authorization", value: "Bearer {{ secrets.api_key }}" }] }, CALL);
    expect(res.status).toBe(200);
    expect(text(res.body)).not.toContain(v);
    await refused(task.getSecretValue({ name: "api_key" }, CALL), Code.PermissionDenied, /needs scope secrets\.access/);
    await refused(task.batchGetSecretValues({ names: ["api_key"] }, CALL), Code.PermissionDenied, /needs scope secrets\.access/);
    await refused(task.resolveReferences({ template: { kind: { case: "stringValue", value: "$ secrets.api_key" } } }, CALL), Code.PermissionDenied, /needs scope secrets\.access/);
    await refused(task.redactText({ text: v, names: ["api_key"] }, CALL), Code.PermissionDenied, /needs scope secrets\.access/);
    await refused(
      (async () => {
        for await (const _ of task.watchSecrets({ names: ["api_key"] }, CALL)) return;
      })(),
      Code.PermissionDenied,
      /needs scope secrets\.read/,
    );
    // Nor does its glob reach past the minted names.
    await c.createSecret({ name: "other_key", value: value("other"), allowedHosts: [hostOf(tls)] }, CALL);
    await refused(task.proxyHttpRequest({ method: "GET", url: tls.url("/?k={{ secrets.other_key }}") }, CALL), Code.NotFound, 'secret "other_key" not found');
  });
});

describe("the audit event", () => {
  it("names, method, host, status, duration and bytes; never a value, path, query, header or body", async () => {
    const { c, tenant, value: v } = await withSecret([hostOf(tls)]);
    await c.proxyHttpRequest(
      { method: "POST", url: tls.url("/audited/path?key={{ secrets.api_key }}&q=querytext"), headers: [{ name: "content-type", value: "text/plain" }, { name: "x-h", value: "headertext" }], body: Buffer.from("bodytext {{ secrets.api_key }}") },
      CALL,
    );
    const events = (await c.listAuditEvents({ method: "ProxyHttpRequest" }, CALL)).events;
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect([e.names, e.code, e.httpCall?.method, e.httpCall?.host, e.httpCall?.status, e.httpCall?.requestBytes]).toEqual([["api_key"], 0, "POST", hostOf(tls), 200, BigInt(`bodytext ${v}`.length)]);
    expect(Number(e.httpCall?.responseBytes)).toBeGreaterThan(0);
    expect(e.httpCall?.duration).toBeDefined();
    const stored = JSON.stringify(await raw.db.collection("audit_events").find({ tenant }).toArray());
    for (const secret of [v, "querytext", "headertext", "bodytext", "/audited/path"]) expect(stored).not.toContain(secret);
    // A refused call is recorded too, with its code and without an upstream call.
    await refused(c.proxyHttpRequest({ method: "GET", url: other.url("/?k={{ secrets.api_key }}") }, CALL), Code.PermissionDenied, /may not be sent/);
    const denied = (await c.listAuditEvents({ method: "ProxyHttpRequest", code: Code.PermissionDenied }, CALL)).events;
    expect(denied.map((r) => [r.code, r.names, r.httpCall])).toEqual([[Code.PermissionDenied, ["api_key"], undefined]]);
  });
});
