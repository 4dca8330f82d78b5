import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlreadyExistsError } from "../../src/errors.js";
import type { SecretsService } from "../../src/core/secrets-service.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import { openKeys, openStore, type StoreFixture, type StoreKind } from "../helpers/adapters.js";
import { coreOver, createInput, principal, uniqueName, valueUpdate } from "../helpers/core.js";

// Concurrent writers on the real store: correctness comes from the store's unique
// inserts and the revision claims, never from in-process locks.

describe.each<StoreKind>(["memory", "mongodb"])("concurrent writers (%s)", (kind) => {
  let fixture: StoreFixture;
  let keys: KeyProvider;
  let core: SecretsService;
  const dev = principal("dev_conc");

  beforeAll(async () => {
    fixture = await openStore(kind, "conc");
    keys = openKeys("local");
    core = coreOver(fixture.store, keys);
  });
  afterAll(async () => {
    await keys.close();
    await fixture.dispose();
  });

  it("50 concurrent value updates on one secret make versions 1..51 exactly, each readable", async () => {
    const name = uniqueName();
    await core.createSecret(dev, createInput(name, "v-initial"));
    const values = Array.from({ length: 50 }, (_, i) => `value-${i}`);
    const results = await Promise.all(values.map((v) => core.updateSecret(dev, valueUpdate(name, v))));
    const committedVersions = results.map((r) => r.latestVersion).sort((a, b) => a - b);
    expect(committedVersions).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    expect((await core.getSecret(dev, name)).latestVersion).toBe(51);
    const read = await Promise.all(Array.from({ length: 51 }, (_, i) => core.getSecretValue(dev, name, i + 1)));
    expect(read[0]!.value).toBe("v-initial");
    expect(new Set(read.slice(1).map((r) => r.value))).toEqual(new Set(values));
  });

  it("20 concurrent creates of one name: exactly one succeeds, the rest ALREADY_EXISTS", async () => {
    const name = uniqueName();
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => core.createSecret(dev, createInput(name, `c${i}`))));
    const ok = results.filter((r) => r.status === "fulfilled");
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(ok).toHaveLength(1);
    expect(failed.every((r) => r.reason instanceof AlreadyExistsError)).toBe(true);
    const winner = (ok[0] as PromiseFulfilledResult<{ latestVersion: number }>).value;
    expect(winner.latestVersion).toBe(1);
    const value = await core.getSecretValue(dev, name, 0);
    expect(value.value).toMatch(/^c\d+$/);
  });

  it("metadata and value updates racing on one secret lose neither", async () => {
    const name = uniqueName();
    await core.createSecret(dev, createInput(name, "v1"));
    const ops = Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0
        ? core.updateSecret(dev, valueUpdate(name, `v-${i}`))
        : core.updateSecret(dev, { name, updateMask: ["description"], description: `d-${i}`, metadata: {}, etag: "" }),
    );
    const results = await Promise.all(ops);
    const secret = await core.getSecret(dev, name);
    expect(secret.latestVersion).toBe(11);
    expect(secret.revision).toBe(21);
    expect(new Set(results.map((r) => r.etag)).size).toBe(20);
    for (let v = 1; v <= 11; v++) await expect(core.getSecretValue(dev, name, v)).resolves.toMatchObject({ version: v });
  });
});
