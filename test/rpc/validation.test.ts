import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { SecretsService, UpdateSecretRequestSchema } from "../../gen/secrets/v1/secrets_pb.js";
import { connectGrpcClient, connectJson } from "../helpers/clients.js";
import { grpcErrorOf, grpcJsSecretsClient } from "../helpers/grpc-js-client.js";
import { connectErrorOf } from "../helpers/rpc-failures.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

// Every request rule of the API over the real server and FerretDB: what is refused
// (INVALID_ARGUMENT naming the field), what is accepted right at the limits, update
// and pagination semantics, oversize requests, and a server that keeps serving.

type Secrets = Client<typeof SecretsService>;
type UpdateReq = MessageInitShape<typeof UpdateSecretRequestSchema>;

const KEY = "🔑"; // one code point, two UTF-16 units, four UTF-8 bytes
const a = (n: number) => "a".repeat(n);
const emoji = (n: number) => KEY.repeat(n);
const entries = (n: number, value = "v") => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, value]));
const names = (page: { secrets: { name: string }[] }) => page.secrets.map((s) => s.name);

/** Runs `work` over `items` with at most `width` in flight. */
async function inParallel<T>(items: readonly T[], width: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** All pages of a listing, following next_page_token. */
async function listAll(client: Secrets, req: { pageSize: number; namePrefix?: string; metadataFilter?: Record<string, string> }) {
  const seen: string[] = [];
  let pageToken = "";
  do {
    const page = await client.listSecrets({ ...req, pageToken });
    seen.push(...names(page));
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return seen;
}

let server: TestServer;
let client: Secrets;
let otherTenant: Secrets;
/** Page tokens minted in beforeAll for the page_token cases. */
const tokens = { prefixP: "", filterTeamA: "", tenantOther: "" };

beforeAll(async () => {
  server = await startTestServer({ store: "mongodb", keys: "local", label: "rpc_validation" });
  client = connectGrpcClient(server.baseUrl, await server.token("dev-validation", "validator"));
  otherTenant = connectGrpcClient(server.baseUrl, await server.token("dev-other", "other"));
  await client.createSecret({ name: "target", value: "v1", description: "d", metadata: { team: "a" } });
  for (const name of ["p1", "p2", "p3"]) await client.createSecret({ name, value: "v", metadata: { team: "a" } });
  for (const name of ["p1", "p2"]) await otherTenant.createSecret({ name, value: "v" });
  tokens.prefixP = (await client.listSecrets({ pageSize: 1, namePrefix: "p" })).nextPageToken;
  tokens.filterTeamA = (await client.listSecrets({ pageSize: 1, metadataFilter: { team: "a" } })).nextPageToken;
  tokens.tenantOther = (await otherTenant.listSecrets({ pageSize: 1, namePrefix: "p" })).nextPageToken;
  expect(Object.values(tokens).every((t) => t !== "")).toBe(true);
});

afterAll(async () => {
  await server?.close();
});

interface Refusal {
  label: string;
  field: string;
  call: () => Promise<unknown>;
}

async function expectInvalid({ field, call }: Refusal): Promise<void> {
  const err = await connectErrorOf(call());
  expect(err.code).toBe(Code.InvalidArgument);
  // The message names the field at fault (as the proto spells it).
  expect(err.rawMessage).toMatch(new RegExp(`^${field}\\b`));
}

describe("CreateSecret refuses with INVALID_ARGUMENT naming the field", () => {
  const create = (req: { name?: string; value?: string; description?: string; metadata?: Record<string, string> }) => () =>
    client.createSecret({ name: "fresh", value: "v", ...req });
  const cases: Refusal[] = [
    { label: "empty name", field: "name", call: create({ name: "" }) },
    { label: "name starting with a digit", field: "name", call: create({ name: "1abc" }) },
    { label: "name starting with _", field: "name", call: create({ name: "_abc" }) },
    { label: "name with -", field: "name", call: create({ name: "my-key" }) },
    { label: "name with .", field: "name", call: create({ name: "my.key" }) },
    { label: "name with a space", field: "name", call: create({ name: "my key" }) },
    { label: "name with a trailing newline", field: "name", call: create({ name: "abc\n" }) },
    { label: "non-ASCII name", field: "name", call: create({ name: "clé" }) },
    { label: "129-character name", field: "name", call: create({ name: a(129) }) },
    { label: "empty value", field: "value", call: create({ value: "" }) },
    { label: "65,537-byte value", field: "value", call: create({ value: a(65_537) }) },
    { label: "value of 32,769 two-byte characters (65,538 bytes)", field: "value", call: create({ value: "é".repeat(32_769) }) },
    { label: "value of 16,385 emoji (65,540 bytes)", field: "value", call: create({ value: emoji(16_385) }) },
    { label: "1,025-character description", field: "description", call: create({ description: a(1_025) }) },
    { label: "1,025-emoji description", field: "description", call: create({ description: emoji(1_025) }) },
    { label: "65 metadata entries", field: "metadata", call: create({ metadata: entries(65) }) },
    { label: "empty metadata key", field: "metadata", call: create({ metadata: { "": "v" } }) },
    { label: "metadata key starting with a digit", field: "metadata", call: create({ metadata: { "1k": "v" } }) },
    { label: "metadata key starting with .", field: "metadata", call: create({ metadata: { ".k": "v" } }) },
    { label: "metadata key with =", field: "metadata", call: create({ metadata: { "k=v": "v" } }) },
    { label: "metadata key with /", field: "metadata", call: create({ metadata: { "a/b": "v" } }) },
    { label: "64-character metadata key", field: "metadata", call: create({ metadata: { [a(64)]: "v" } }) },
    { label: "513-character metadata value", field: "metadata", call: create({ metadata: { k: a(513) } }) },
    { label: "513-emoji metadata value", field: "metadata", call: create({ metadata: { k: emoji(513) } }) },
  ];

  it.each(cases)("$label", async (refusal) => {
    await expectInvalid(refusal);
  });

  it("none of the refused creates left a secret behind", async () => {
    expect((await connectErrorOf(client.getSecret({ name: "fresh" }))).code).toBe(Code.NotFound);
  });
});

describe("CreateSecret accepts values right at the limits", () => {
  const maxKey = `K${a(62)}`;
  const cases: { label: string; name: string; value?: string; description?: string; metadata?: Record<string, string> }[] = [
    { label: "128-character name", name: `N${a(127)}` },
    { label: "one-character name", name: "Q" },
    { label: "name with digits, underscores and capitals", name: "a_1_B_c9" },
    { label: "1-byte value", name: "one_byte", value: "x" },
    { label: "65,536-byte ASCII value", name: "max_ascii", value: a(65_536) },
    { label: "65,536-byte value of 16,384 emoji", name: "max_emoji", value: emoji(16_384) },
    { label: "1,024-character description", name: "desc_ascii", description: a(1_024) },
    { label: "1,024-emoji description (2,048 UTF-16 units)", name: "desc_emoji", description: emoji(1_024) },
    { label: "64 metadata entries", name: "meta_64", metadata: entries(64) },
    { label: "63-character metadata key", name: "meta_key", metadata: { [maxKey]: "v" } },
    { label: "metadata key with . - _", name: "meta_chars", metadata: { "app.kubernetes-io_name": "v" } },
    { label: "512-character metadata value", name: "meta_val", metadata: { k: a(512) } },
    { label: "512-emoji metadata value", name: "meta_emoji", metadata: { k: emoji(512) } },
  ];

  it.each(cases)("$label", async ({ name, value = "v", description = "", metadata = {} }) => {
    const created = (await client.createSecret({ name, value, description, metadata })).secret;
    expect(created).toMatchObject({ name, description, metadata, latestVersion: 1n });
    expect((await client.getSecretValue({ name })).value).toBe(value);
    expect((await client.getSecret({ name })).secret).toMatchObject({ description, metadata });
  });

  it("every limit at once still fits under the default request size", async () => {
    const metadata = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${String(i).padStart(2, "0")}${a(60)}`, emoji(512)]));
    const req = { name: `M${a(127)}`, value: emoji(16_384), description: emoji(1_024), metadata };
    const created = (await client.createSecret(req)).secret;
    expect(Object.keys(created?.metadata ?? {})).toHaveLength(64);
    expect((await client.getSecretValue({ name: req.name })).value).toBe(req.value);
  });

  it("names are case-sensitive", async () => {
    await client.createSecret({ name: "CaseName", value: "upper" });
    await client.createSecret({ name: "casename", value: "lower" });
    expect((await client.getSecretValue({ name: "CaseName" })).value).toBe("upper");
    expect((await client.getSecretValue({ name: "casename" })).value).toBe("lower");
    expect((await connectErrorOf(client.getSecret({ name: "CASENAME" }))).code).toBe(Code.NotFound);
    expect((await connectErrorOf(client.createSecret({ name: "CaseName", value: "again" }))).code).toBe(Code.AlreadyExists);
  });
});

describe("UpdateSecret refuses with INVALID_ARGUMENT naming the field", () => {
  let etagBefore = "";
  beforeAll(async () => {
    etagBefore = (await client.getSecret({ name: "target" })).secret?.etag ?? "";
  });
  type Fields = { name?: string; description?: string; metadata?: Record<string, string>; value?: string; etag?: string };
  const update = (req: Fields, mask?: string[]) => () =>
    client.updateSecret({ name: "target", ...req, ...(mask ? { updateMask: { paths: mask } } : {}) });
  const cases: Refusal[] = [
    { label: "empty name", field: "name", call: update({ name: "", value: "v" }) },
    { label: "invalid name", field: "name", call: update({ name: "bad-name", value: "v" }) },
    { label: "unknown mask path name", field: "update_mask", call: update({ value: "v" }, ["name"]) },
    { label: "unknown mask path etag", field: "update_mask", call: update({ etag: "e" }, ["etag"]) },
    { label: "mask path in another case", field: "update_mask", call: update({ description: "x" }, ["Description"]) },
    { label: "nothing to update", field: "update_mask", call: update({}) },
    { label: "only an etag", field: "update_mask", call: update({ etag: "whatever" }) },
    { label: "value named in the mask but absent", field: "value", call: update({ description: "x" }, ["value", "description"]) },
    { label: "empty value", field: "value", call: update({ value: "" }) },
    { label: "65,537-byte value", field: "value", call: update({ value: a(65_537) }) },
    { label: "1,025-emoji description", field: "description", call: update({ description: emoji(1_025) }) },
    { label: "too-long description named in the mask", field: "description", call: update({ description: a(1_025) }, ["description"]) },
    { label: "65 metadata entries", field: "metadata", call: update({ metadata: entries(65) }) },
    { label: "bad metadata key", field: "metadata", call: update({ metadata: { "-k": "v" } }, ["metadata"]) },
    { label: "513-character metadata value", field: "metadata", call: update({ metadata: { k: a(513) } }) },
  ];

  it.each(cases)("$label", async (refusal) => {
    await expectInvalid(refusal);
  });

  it("a refused update changes nothing, not even partly", async () => {
    // Valid description with an invalid value in the same request.
    await expectInvalid({ label: "", field: "value", call: update({ description: "half", value: "" }) });
    const secret = (await client.getSecret({ name: "target" })).secret;
    expect(secret).toMatchObject({ etag: etagBefore, description: "d", metadata: { team: "a" }, latestVersion: 1n });
  });
});

describe("UpdateSecret semantics", () => {
  const update = async (req: UpdateReq) => {
    const secret = (await client.updateSecret(req)).secret;
    if (!secret) throw new Error("no secret in the response");
    return secret;
  };
  const etags: string[] = [];

  beforeAll(async () => {
    const created = await client.createSecret({ name: "sem", value: "v1", description: "first", metadata: { a: "1", b: "2" } });
    etags.push(created.secret?.etag ?? "");
  });

  it("an empty mask updates only the fields that carry something", async () => {
    const described = await update({ name: "sem", description: "second" });
    expect(described).toMatchObject({ description: "second", metadata: { a: "1", b: "2" }, latestVersion: 1n });
    const relabelled = await update({ name: "sem", metadata: { c: "3" } });
    // Metadata is replaced as a whole, not merged.
    expect(relabelled).toMatchObject({ description: "second", metadata: { c: "3" }, latestVersion: 1n });
    const revalued = await update({ name: "sem", value: "v2" });
    expect(revalued).toMatchObject({ description: "second", metadata: { c: "3" }, latestVersion: 2n });
    etags.push(described.etag, relabelled.etag, revalued.etag);
  });

  it("a mask limits the update to its paths and clears what it names but the request leaves empty", async () => {
    const onlyDescription = await update({
      name: "sem",
      updateMask: { paths: ["description"] },
      description: "",
      metadata: { ignored: "yes" },
      value: "ignored value",
    });
    expect(onlyDescription).toMatchObject({ description: "", metadata: { c: "3" }, latestVersion: 2n });
    const clearedMetadata = await update({ name: "sem", updateMask: { paths: ["metadata"] } });
    expect(clearedMetadata).toMatchObject({ description: "", metadata: {}, latestVersion: 2n });
    const all = await update({
      name: "sem",
      updateMask: { paths: ["description", "metadata", "value"] },
      description: "all three",
      metadata: { d: "4" },
      value: "v3",
    });
    expect(all).toMatchObject({ description: "all three", metadata: { d: "4" }, latestVersion: 3n });
    expect((await client.getSecretValue({ name: "sem" })).value).toBe("v3");
    etags.push(onlyDescription.etag, clearedMetadata.etag, all.etag);
  });

  it("every mutation produced a new etag; every version stays readable by number", async () => {
    expect(etags).toHaveLength(7);
    expect(new Set(etags).size).toBe(etags.length);
    const values = [];
    for (const version of [1n, 2n, 3n]) values.push((await client.getSecretValue({ name: "sem", version })).value);
    expect(values).toEqual(["v1", "v2", "v3"]);
    expect((await connectErrorOf(client.getSecretValue({ name: "sem", version: 4n }))).code).toBe(Code.NotFound);
  });

  it("a stale etag is ABORTED and changes nothing; the current etag succeeds", async () => {
    const before = (await client.getSecret({ name: "sem" })).secret;
    const stale = etags[1] ?? "";
    for (const req of [
      { name: "sem", value: "never", etag: stale },
      { name: "sem", description: "never", etag: stale },
      { name: "sem", updateMask: { paths: ["metadata"] }, etag: stale },
    ]) {
      const err = await connectErrorOf(client.updateSecret(req));
      expect(err.code).toBe(Code.Aborted);
    }
    expect((await client.getSecret({ name: "sem" })).secret).toEqual(before);
    expect((await connectErrorOf(client.getSecretValue({ name: "sem", version: 4n }))).code).toBe(Code.NotFound);

    const fresh = await update({ name: "sem", value: "v4", etag: before?.etag ?? "" });
    expect(fresh.latestVersion).toBe(4n);
    expect(fresh.etag).not.toBe(before?.etag);
  });
});

describe("GetSecretValue", () => {
  const cases: Refusal[] = [
    { label: "negative version", field: "version", call: () => client.getSecretValue({ name: "target", version: -1n }) },
    { label: "most negative version", field: "version", call: () => client.getSecretValue({ name: "target", version: -(2n ** 63n) }) },
    { label: "empty name", field: "name", call: () => client.getSecretValue({ name: "" }) },
    { label: "invalid name", field: "name", call: () => client.getSecretValue({ name: "no way" }) },
  ];
  it.each(cases)("refuses $label", async (refusal) => {
    await expectInvalid(refusal);
  });

  it("answers NOT_FOUND above the latest version and for huge version numbers", async () => {
    for (const version of [2n, 2n ** 53n, 2n ** 63n - 1n]) {
      const err = await connectErrorOf(client.getSecretValue({ name: "target", version }));
      expect([Code.NotFound, Code.InvalidArgument], String(version)).toContain(err.code);
      if (err.code === Code.InvalidArgument) expect(err.rawMessage).toMatch(/^version\b/);
    }
    expect((await connectErrorOf(client.getSecretValue({ name: "target", version: 2n }))).code).toBe(Code.NotFound);
  });
});

describe("ListSecrets refuses with INVALID_ARGUMENT naming the field", () => {
  const list = (req: Parameters<Secrets["listSecrets"]>[0]) => () => client.listSecrets(req);
  const b64 = (s: string) => Buffer.from(s).toString("base64url");
  const cases: Refusal[] = [
    { label: "page_size -1", field: "page_size", call: list({ pageSize: -1 }) },
    { label: "page_size -2^31", field: "page_size", call: list({ pageSize: -(2 ** 31) }) },
    { label: "name_prefix starting with a digit", field: "name_prefix", call: list({ namePrefix: "1" }) },
    { label: "name_prefix with -", field: "name_prefix", call: list({ namePrefix: "a-" }) },
    { label: "129-character name_prefix", field: "name_prefix", call: list({ namePrefix: a(129) }) },
    { label: "metadata_filter key starting with a digit", field: "metadata_filter", call: list({ metadataFilter: { "1k": "v" } }) },
    { label: "metadata_filter with 65 pairs", field: "metadata_filter", call: list({ metadataFilter: entries(65) }) },
    { label: "metadata_filter value of 513 characters", field: "metadata_filter", call: list({ metadataFilter: { k: a(513) } }) },
    { label: "page_token garbage", field: "page_token", call: list({ pageToken: "garbage!!" }) },
    { label: "page_token of base64 non-JSON", field: "page_token", call: list({ pageToken: b64("not json") }) },
    { label: "page_token of an empty JSON object", field: "page_token", call: list({ pageToken: b64("{}") }) },
    { label: "page_token of JSON null", field: "page_token", call: list({ pageToken: b64("null") }) },
    { label: "page_token with a made-up query digest", field: "page_token", call: list({ pageToken: b64(JSON.stringify({ after: "p1", q: "x" })) }) },
    { label: "page_token from another name_prefix", field: "page_token", call: () => client.listSecrets({ namePrefix: "p1", pageToken: tokens.prefixP }) },
    { label: "page_token from no name_prefix", field: "page_token", call: () => client.listSecrets({ pageToken: tokens.prefixP }) },
    { label: "page_token from another metadata_filter", field: "page_token", call: () => client.listSecrets({ metadataFilter: { team: "b" }, pageToken: tokens.filterTeamA }) },
    { label: "page_token from no metadata_filter", field: "page_token", call: () => client.listSecrets({ pageToken: tokens.filterTeamA }) },
    { label: "page_token with an extra filter pair", field: "page_token", call: () => client.listSecrets({ metadataFilter: { team: "a", x: "y" }, pageToken: tokens.filterTeamA }) },
    { label: "page_token from another tenant, same query", field: "page_token", call: () => client.listSecrets({ namePrefix: "p", pageToken: tokens.tenantOther }) },
  ];

  it.each(cases)("$label", async (refusal) => {
    await expectInvalid(refusal);
  });

  it("a token of the same query is accepted whatever the page size or the order of the filter pairs", async () => {
    const next = await client.listSecrets({ pageSize: 5, namePrefix: "p", pageToken: tokens.prefixP });
    expect(names(next)).toEqual(["p2", "p3"]);
    const twoPairs = await client.listSecrets({ pageSize: 1, metadataFilter: { team: "a", b: "x" } });
    expect(twoPairs.secrets).toEqual([]);
    await client.updateSecret({ name: "p1", metadata: { team: "a", b: "x" } });
    await client.updateSecret({ name: "p2", metadata: { team: "a", b: "x" } });
    const first = await client.listSecrets({ pageSize: 1, metadataFilter: { team: "a", b: "x" } });
    expect(names(first)).toEqual(["p1"]);
    const second = await client.listSecrets({ pageSize: 1, metadataFilter: { b: "x", team: "a" }, pageToken: first.nextPageToken });
    expect(names(second)).toEqual(["p2"]);
    expect(second.nextPageToken).toBe("");
  });
});

describe("pagination", () => {
  it("page_size 0 means 50, and a page that ends the listing carries no token", async () => {
    const all = Array.from({ length: 55 }, (_, i) => `pg_${String(i).padStart(2, "0")}`);
    await inParallel(all, 8, (name) => client.createSecret({ name, value: "v" }));

    const first = await client.listSecrets({ namePrefix: "pg_" });
    expect(names(first)).toEqual(all.slice(0, 50));
    expect(first.nextPageToken).not.toBe("");
    const rest = await client.listSecrets({ namePrefix: "pg_", pageToken: first.nextPageToken });
    expect(names(rest)).toEqual(all.slice(50));
    expect(rest.nextPageToken).toBe("");

    const exact = await client.listSecrets({ namePrefix: "pg_", pageSize: 55 });
    expect(names(exact)).toEqual(all);
    expect(exact.nextPageToken).toBe("");
    expect(names(await client.listSecrets({ namePrefix: "pg_", pageSize: 7 }))).toEqual(all.slice(0, 7));
    expect(await listAll(client, { namePrefix: "pg_", pageSize: 4 })).toEqual(all);
  });

  it("orders by name, byte-wise (capitals before lower case)", async () => {
    const mixed = connectGrpcClient(server.baseUrl, await server.token("dev-ordering"));
    for (const name of ["beta", "Zeta", "alpha", "B_2", "Alpha", "a10", "a9", "a_1"]) await mixed.createSecret({ name, value: "v" });
    expect(names(await mixed.listSecrets({}))).toEqual(["Alpha", "B_2", "Zeta", "a10", "a9", "a_1", "alpha", "beta"]);
    expect(names(await mixed.listSecrets({ namePrefix: "a" }))).toEqual(["a10", "a9", "a_1", "alpha"]);
    expect(names(await mixed.listSecrets({ namePrefix: "A" }))).toEqual(["Alpha"]);
  });

  it("the cursor is stable: names inserted before it neither repeat nor shift items", async () => {
    const walker = connectGrpcClient(server.baseUrl, await server.token("dev-walk"));
    const preexisting = ["w_b", "w_d", "w_f", "w_h", "w_j", "w_l", "w_n"];
    for (const name of preexisting) await walker.createSecret({ name, value: "v" });

    const seen: string[] = [];
    const page1 = await walker.listSecrets({ pageSize: 3, namePrefix: "w_" });
    seen.push(...names(page1));
    expect(names(page1)).toEqual(["w_b", "w_d", "w_f"]);
    // Mid-walk: before the first item, between returned items, just before the cursor, and after it.
    for (const name of ["w_a", "w_c", "w_e", "w_g"]) await walker.createSecret({ name, value: "v" });

    const page2 = await walker.listSecrets({ pageSize: 3, namePrefix: "w_", pageToken: page1.nextPageToken });
    seen.push(...names(page2));
    expect(names(page2)).toEqual(["w_g", "w_h", "w_j"]);
    await walker.createSecret({ name: "w_i", value: "v" });

    const page3 = await walker.listSecrets({ pageSize: 3, namePrefix: "w_", pageToken: page2.nextPageToken });
    seen.push(...names(page3));
    expect(page3.nextPageToken).toBe("");

    expect(new Set(seen).size).toBe(seen.length);
    for (const name of preexisting) expect(seen.filter((s) => s === name), name).toHaveLength(1);
    expect(seen).toEqual(["w_b", "w_d", "w_f", "w_g", "w_h", "w_j", "w_l", "w_n"]);
    // A fresh walk sees everything, in order.
    expect(await listAll(walker, { pageSize: 3, namePrefix: "w_" })).toEqual(
      ["w_a", "w_b", "w_c", "w_d", "w_e", "w_f", "w_g", "w_h", "w_i", "w_j", "w_l", "w_n"],
    );
  });

  it("metadata_filter keeps secrets having all pairs, across pages", async () => {
    const labeller = connectGrpcClient(server.baseUrl, await server.token("dev-labels"));
    const labelled: Record<string, Record<string, string>> = {
      m1: { env: "prod", tier: "1" },
      m2: { env: "prod" },
      m3: { env: "prod", tier: "1", extra: "x" },
      m4: { env: "dev", tier: "1" },
      m5: { env: "prod", tier: "1" },
      m6: {},
      m7: { env: "prod", tier: "2" },
      m8: { ENV: "prod", tier: "1" },
    };
    for (const [name, metadata] of Object.entries(labelled)) await labeller.createSecret({ name, value: "v", metadata });
    expect(await listAll(labeller, { pageSize: 2, metadataFilter: { env: "prod", tier: "1" } })).toEqual(["m1", "m3", "m5"]);
    expect(await listAll(labeller, { pageSize: 1, metadataFilter: { env: "prod" } })).toEqual(["m1", "m2", "m3", "m5", "m7"]);
    expect(await listAll(labeller, { pageSize: 10, metadataFilter: { tier: "1" } })).toEqual(["m1", "m3", "m4", "m5", "m8"]);
    expect(await listAll(labeller, { pageSize: 10, metadataFilter: { env: "" } })).toEqual([]);
    expect(await listAll(labeller, { pageSize: 10, metadataFilter: {} })).toHaveLength(8);
  });
});

describe("page_size above 1,000 (memory store: 1,005 secrets through the API)", () => {
  let memory: TestServer;
  let many: Secrets;
  const all = Array.from({ length: 1_005 }, (_, i) => `bulk_${String(i).padStart(4, "0")}`);

  beforeAll(async () => {
    // On FerretDB 1,005 creates take ~30-40 s here; the memory store answers the same API in a few.
    memory = await startTestServer({ store: "memory", keys: "local", label: "rpc_validation_bulk" });
    many = connectGrpcClient(memory.baseUrl, await memory.token("dev-bulk"));
    await inParallel(all, 32, (name) => many.createSecret({ name, value: "v" }));
  });

  afterAll(async () => {
    await memory?.close();
  });

  it.each([1_001, 1_000_000, 2 ** 31 - 1])("page_size %i returns at most 1,000", async (pageSize) => {
    const first = await many.listSecrets({ pageSize });
    expect(names(first)).toEqual(all.slice(0, 1_000));
    expect(first.nextPageToken).not.toBe("");
    const rest = await many.listSecrets({ pageSize, pageToken: first.nextPageToken });
    expect(names(rest)).toEqual(all.slice(1_000));
    expect(rest.nextPageToken).toBe("");
  });

  it("page_size 0 still means 50 with many secrets", async () => {
    const page = await many.listSecrets({});
    expect(names(page)).toEqual(all.slice(0, 50));
  });
});

describe("oversize requests", () => {
  const big = a(300_000); // over the default 256 KiB limit

  it("answer RESOURCE_EXHAUSTED over connect's gRPC transport", async () => {
    const err = await connectErrorOf(client.createSecret({ name: "huge", value: big }));
    expect(err.code).toBe(Code.ResourceExhausted);
    const update = await connectErrorOf(client.updateSecret({ name: "target", value: big }));
    expect(update.code).toBe(Code.ResourceExhausted);
  });

  it("answer status 8 to grpc-js", async () => {
    const grpcJs = grpcJsSecretsClient(server.target);
    try {
      const token = await server.token("dev-validation", "validator");
      const err = await grpcErrorOf(grpcJs.call("CreateSecret", { name: "huge", value: big }, token));
      expect(err.code).toBe(8);
    } finally {
      grpcJs.close();
    }
  });

  it("answer HTTP 429 resource_exhausted over Connect JSON", async () => {
    const token = await server.token("dev-validation", "validator");
    const res = await connectJson(server.baseUrl, "CreateSecret", { name: "huge", value: big }, token);
    expect(res.status).toBe(429);
    expect(res.json.code).toBe("resource_exhausted");
  });

  it("follow the configured limit, not the value limit", async () => {
    const small = await startTestServer({ store: "memory", keys: "local", label: "rpc_validation_small", maxRequestBytes: 4_096 });
    try {
      const c = connectGrpcClient(small.baseUrl, await small.token("dev-small"));
      expect((await c.createSecret({ name: "fits", value: a(3_000) })).secret?.name).toBe("fits");
      const err = await connectErrorOf(c.createSecret({ name: "too_big", value: a(5_000) }));
      expect(err.code).toBe(Code.ResourceExhausted);
      expect((await connectErrorOf(c.getSecret({ name: "too_big" }))).code).toBe(Code.NotFound);
    } finally {
      await small.close();
    }
  });

  it("left nothing behind", async () => {
    expect((await connectErrorOf(client.getSecret({ name: "huge" }))).code).toBe(Code.NotFound);
    expect((await client.getSecret({ name: "target" })).secret?.latestVersion).toBe(1n);
  });
});

describe("after all of that", () => {
  it("the server still serves normal calls on new and old connections", async () => {
    const fresh = connectGrpcClient(server.baseUrl, await server.token("dev-validation", "validator"));
    const created = await fresh.createSecret({ name: "still_alive", value: "yes", metadata: { k: "v" } });
    expect(created.secret?.latestVersion).toBe(1n);
    expect((await client.getSecretValue({ name: "still_alive" })).value).toBe("yes");
    const token = await server.token("dev-validation", "validator");
    const viaJson = await connectJson(server.baseUrl, "GetSecretValue", { name: "still_alive" }, token);
    expect(viaJson).toMatchObject({ status: 200, json: { value: "yes", version: "1" } });
    const health = await fetch(`${server.baseUrl}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(await health.json()).toEqual({ status: "SERVING" });
  });
});
