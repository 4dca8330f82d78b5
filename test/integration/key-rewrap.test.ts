import { CreateKeyCommand, DisableKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AwsKeyProvider } from "../../src/adapters/aws-kms/aws-key-provider.js";
import { LocalKeyProvider } from "../../src/adapters/local-kms/local-key-provider.js";
import { openValue, versionBinding } from "../../src/core/envelope.js";
import { rewrapKeys, type RewrapDeps, type RewrapResult } from "../../src/core/rewrap.js";
import { FailedPreconditionError, InvalidArgumentError } from "../../src/errors.js";
import { systemClock } from "../../src/ports/clock.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import type { SecretStore } from "../../src/ports/secret-store.js";
import { openStore, type StoreFixture } from "../helpers/adapters.js";
import { coreOver, createInput, principal } from "../helpers/core.js";
import { SimulatedCrash } from "../helpers/crashing-store.js";
import { withStoreMethod } from "../helpers/store-method.js";
import { kmsCredentials, services } from "../helpers/services.js";
import { randomBytes } from "node:crypto";

// Key rotation on the real store and the KMS emulator: every version's data key is re-wrapped from
// key A to key B (ReEncrypt) while reads and writes go on, a run that fails midway is resumed from its
// last page token, and once key A is disabled in the emulator every stored value still opens.

const admin = principal("ops", "ops-admin");
const tenants = [principal("dev_rw1"), principal("dev_rw2")];
const LEASE_MS = 30_000;

const kms = new KMSClient({ region: services.region, endpoint: services.kmsEndpoint, credentials: kmsCredentials() });
const newKmsKey = async () => (await kms.send(new CreateKeyCommand({ Description: "rewrap test" }))).KeyMetadata!.KeyId!;
const awsKeys = (keyId: string) => new AwsKeyProvider({ keyId, region: services.region, endpoint: services.kmsEndpoint, credentials: kmsCredentials() });

/** Every stored value, opened straight from the version documents with `keys`: version -> value, per secret. */
async function openEverything(store: SecretStore, keys: KeyProvider): Promise<Map<string, string>> {
  const opened = new Map<string, string>();
  for (let after: string | undefined, page; (page = await store.scanSecrets(after, 50)).length > 0; after = page.at(-1)!.key) {
    for (const { secret } of page) {
      for (let v = 1; v <= secret.latestVersion; v++) {
        const record = await store.findVersion(secret.id, v);
        if (record?.sealed) opened.set(`${secret.tenant}/${secret.name}@${v}`, await openValue(keys, versionBinding(secret.tenant, secret, v), record.sealed));
      }
      if (secret.current) {
        const value = await openValue(keys, versionBinding(secret.tenant, secret, secret.current.version), secret.current.sealed);
        expect(value, `${secret.name} current copy`).toBe(opened.get(`${secret.tenant}/${secret.name}@${secret.current.version}`));
      }
    }
  }
  return opened;
}

/** Master key ids of every stored wrapped key (versions with a value, and current copies). */
async function keyIdsInUse(store: SecretStore): Promise<Set<string>> {
  const ids = new Set<string>();
  for (let after: string | undefined, page; (page = await store.scanSecrets(after, 50)).length > 0; after = page.at(-1)!.key) {
    for (const { secret } of page) {
      if (secret.current) ids.add(secret.current.sealed.keyId);
      for (let v = 1; v <= secret.latestVersion; v++) {
        const record = await store.findVersion(secret.id, v);
        if (record?.sealed) ids.add(record.sealed.keyId).add(record.keyId);
      }
    }
  }
  return ids;
}

describe("key re-wrap (FerretDB, LocalStack KMS)", () => {
  let fixture: StoreFixture;
  let keyA: string;
  let keyB: string;
  let oldKeys: KeyProvider;
  let newKeys: KeyProvider;
  const expected = new Map<string, string>();

  beforeAll(async () => {
    fixture = await openStore("mongodb", "rewrap");
    [keyA, keyB] = [await newKmsKey(), await newKmsKey()];
    oldKeys = awsKeys(keyA);
    newKeys = awsKeys(keyB);
    const core = coreOver(fixture.store, oldKeys, systemClock, LEASE_MS, fixture.idempotency);
    for (const [t, who] of tenants.entries()) {
      for (let i = 0; i < 4; i++) {
        const name = `rw_${i}`;
        const values = [0, 1, 2].map((v) => `${who.tenant}:${name}:v${v + 1}:${randomBytes(6).toString("base64")}\n"quoted" é🔑`);
        await core.createSecret(who, createInput(name, values[0]!));
        await core.putSecretValue(who, { name, value: values[1]!, etag: "", requestId: "" });
        await core.putSecretValue(who, { name, value: values[2]!, etag: "", requestId: "" });
        values.forEach((v, n) => expected.set(`${who.tenant}/${name}@${n + 1}`, v));
      }
      await core.setVersionState(who, { name: "rw_1", version: 2, etag: "" }, "disabled");
      await core.setVersionState(who, { name: "rw_2", version: 1, etag: "" }, "destroyed");
      expected.delete(`${who.tenant}/rw_2@1`);
      if (t === 1) await core.deleteSecret(who, { name: "rw_3", recoveryWindowDays: 7, force: false, etag: "" });
    }
  }, 120_000);

  afterAll(async () => {
    await oldKeys?.close();
    await newKeys?.close();
    await fixture?.dispose();
    kms.destroy();
  });

  const deps = (keys: KeyProvider, store: SecretStore = fixture.store, rotated: string[] = []): RewrapDeps => ({
    store,
    keys,
    clock: systemClock,
    pendingLeaseMs: LEASE_MS,
    rotateCacheKey: async () => rotated.push("rotated") > 0,
  });

  it("refuses a key that is not the active one, an empty or odd key, and bad numbers, naming the field", async () => {
    await expect(rewrapKeys(deps(oldKeys), admin, { toKey: keyB, pageToken: "", pageSize: 0, rateLimit: 0 })).rejects.toThrow(FailedPreconditionError);
    await expect(rewrapKeys(deps(newKeys), admin, { toKey: "", pageToken: "", pageSize: 0, rateLimit: 0 })).rejects.toThrow(/^to_key/);
    await expect(rewrapKeys(deps(newKeys), admin, { toKey: "a b", pageToken: "", pageSize: 0, rateLimit: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(rewrapKeys(deps(newKeys), admin, { toKey: "alias/no-such-key", pageToken: "", pageSize: 0, rateLimit: 0 })).rejects.toThrow(/to_key/);
    await expect(rewrapKeys(deps(newKeys), admin, { toKey: keyB, pageToken: "", pageSize: 1001, rateLimit: 0 })).rejects.toThrow(/^page_size/);
    await expect(rewrapKeys(deps(newKeys), admin, { toKey: keyB, pageToken: "", pageSize: 0, rateLimit: -1 })).rejects.toThrow(/^rate_limit/);
    await expect(rewrapKeys(deps(newKeys), admin, { toKey: keyB, pageToken: "garbage", pageSize: 0, rateLimit: 0 })).rejects.toThrow(/^page_token/);
    expect((await keyIdsInUse(fixture.store)).size).toBe(1); // nothing moved
  });

  it("re-wraps everything under the new key while reads and writes go on, resumes after a failure, and needs the old key no more", async () => {
    const arnB = await newKeys.resolveKeyId(keyB);
    const before = await keyIdsInUse(fixture.store);
    expect(before.has(arnB)).toBe(false);
    // A wrapped key under A, kept to show the emulator refuses it once A is disabled.
    const probe = (await fixture.store.scanSecrets(undefined, 1))[0]!.secret;

    // Mixed load on the new key's side meanwhile (the replicas run with B active): every call must succeed.
    const live = coreOver(fixture.store, newKeys, systemClock, LEASE_MS, fixture.idempotency);
    const who = tenants[0]!;
    let stop = false;
    const failures: unknown[] = [];
    let calls = 0;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        calls++;
        try {
          if (i % 5 === 4) {
            const value = `live-${i}`;
            const put = await live.putSecretValue(who, { name: "rw_0", value, etag: "", requestId: "" });
            expected.set(`${who.tenant}/rw_0@${put.version.version}`, value);
          } else {
            const got = await live.getSecretValue(who, `rw_${i % 2}`, 0);
            expect(got.value).toBe(expected.get(`${who.tenant}/rw_${i % 2}@${got.version}`));
          }
        } catch (err) {
          failures.push(err);
        }
      }
    })();

    // The run fails at the 5th version write (a crash of the store connection), then is resumed.
    let writes = 0;
    const failing = withStoreMethod(fixture.store, "rewrapVersion", async (rewrapVersion, ...args) => {
      if (++writes === 5) throw new SimulatedCrash("connection lost");
      return rewrapVersion(...args);
    });
    const rotated: string[] = [];
    const pages: RewrapResult[] = [];
    let token = "";
    let failed = false;
    const errors: unknown[] = [];
    try {
      for (let calls = 0; calls < 50; calls++) {
        const page = await rewrapKeys(deps(newKeys, failed ? fixture.store : failing, rotated), admin, { toKey: keyB, pageToken: token, pageSize: 2, rateLimit: 500 }).catch(
          (err: unknown) => {
            errors.push(err);
            failed = true;
            return undefined;
          },
        );
        if (!page) continue; // resume from the same token
        pages.push(page);
        token = page.nextPageToken;
        if (!token) break;
      }
    } finally {
      stop = true;
      await load;
    }
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(SimulatedCrash);
    expect(token).toBe("");
    expect(failed).toBe(true);
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(0);
    expect(pages.length).toBeGreaterThanOrEqual(4); // 8 secrets, 2 a page
    expect(pages.every((p) => p.keyId === arnB)).toBe(true);
    expect(pages.slice(0, -1).every((p) => !p.cacheKeyRotated)).toBe(true);
    expect(pages.at(-1)!.cacheKeyRotated).toBe(true);
    expect(rotated).toEqual(["rotated"]);
    expect(pages.reduce((n, p) => n + p.rewrapped, 0)).toBeGreaterThan(0);
    expect(pages.reduce((n, p) => n + p.skipped, 0)).toBeGreaterThanOrEqual(2); // the destroyed versions
    expect(await keyIdsInUse(fixture.store)).toEqual(new Set([arnB]));

    // A second run finds nothing to do.
    const again = await rewrapKeys(deps(newKeys), admin, { toKey: keyB, pageToken: "", pageSize: 1000, rateLimit: 0 });
    expect(again.rewrapped).toBe(0);
    expect(again.nextPageToken).toBe("");
    expect(again.already).toBeGreaterThan(0);

    // Key A disabled in the emulator: its wrapped keys no longer open, and every stored value still does.
    const oldWrapped = probe.current!.sealed;
    expect(oldWrapped.keyId).not.toBe(arnB);
    await kms.send(new DisableKeyCommand({ KeyId: keyA }));
    await expect(openValue(oldKeys, versionBinding(probe.tenant, probe, probe.current!.version), oldWrapped)).rejects.toThrow(FailedPreconditionError);
    const opened = await openEverything(fixture.store, newKeys);
    expect(opened).toEqual(expected);
    // Writes and reads through the service's own path too.
    const after = coreOver(fixture.store, newKeys, systemClock, LEASE_MS, fixture.idempotency);
    for (const t of tenants) {
      for (const name of ["rw_0", "rw_1", "rw_2"]) {
        const got = await after.getSecretValue(t, name, 0);
        expect(got.value).toBe(expected.get(`${t.tenant}/${name}@${got.version}`));
      }
    }
    await after.putSecretValue(tenants[1]!, { name: "rw_0", value: "after", etag: "", requestId: "" });
    expect((await after.getSecretValue(tenants[1]!, "rw_0", 0)).value).toBe("after");
  }, 180_000);
});

describe("key re-wrap with local master keys (memory store)", () => {
  it("moves every version from k1 to k2, after which a provider with only k2 opens them all", async () => {
    const fixture = await openStore("memory", "rewrap-local");
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const before = new LocalKeyProvider(new Map([["k1", k1]]), "k1");
    const core = coreOver(fixture.store, before);
    const who = principal("dev_local");
    const values = new Map<string, string>();
    for (let i = 0; i < 5; i++) {
      await core.createSecret(who, createInput(`l_${i}`, `one-${i}`));
      await core.putSecretValue(who, { name: `l_${i}`, value: `two-${i}`, etag: "", requestId: "" });
      values.set(`${who.tenant}/l_${i}@1`, `one-${i}`).set(`${who.tenant}/l_${i}@2`, `two-${i}`);
    }
    const both = new LocalKeyProvider(new Map([["k1", k1], ["k2", k2]]), "k2");
    const deps: RewrapDeps = { store: fixture.store, keys: both, clock: systemClock, pendingLeaseMs: 30_000 };
    await expect(rewrapKeys(deps, admin, { toKey: "k3", pageToken: "", pageSize: 0, rateLimit: 0 })).rejects.toThrow(/^to_key: master key "k3" is not configured/);
    await expect(rewrapKeys(deps, admin, { toKey: "k1", pageToken: "", pageSize: 0, rateLimit: 0 })).rejects.toThrow(FailedPreconditionError);
    const etags = new Map((await fixture.store.scanSecrets(undefined, 100)).map(({ secret }) => [secret.name, secret.etag]));
    const result = await rewrapKeys(deps, admin, { toKey: "k2", pageToken: "", pageSize: 0, rateLimit: 0 });
    expect(result).toMatchObject({ secrets: 5, rewrapped: 15, already: 0, skipped: 0, nextPageToken: "", cacheKeyRotated: false, keyId: "k2" });
    // No value changed: the etag a client holds still makes its conditional write succeed.
    for (const { secret } of await fixture.store.scanSecrets(undefined, 100)) expect(secret.etag).toBe(etags.get(secret.name));
    const only = new LocalKeyProvider(new Map([["k2", k2]]), "k2");
    expect(await openEverything(fixture.store, only)).toEqual(values);
    await expect(openEverything(fixture.store, new LocalKeyProvider(new Map([["k1", k1]]), "k1"))).rejects.toThrow(FailedPreconditionError);
    await fixture.dispose();
  });
});
