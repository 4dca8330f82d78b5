import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AbortedError, AlreadyExistsError } from "../../src/errors.js";
import { createSecretsService, type SecretsService } from "../../src/core/secrets-service.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import { openKeys, openStore, type StoreFixture, type StoreKind } from "../helpers/adapters.js";
import { ManualClock, coreOver, createInput, principal, uniqueName, valueUpdate } from "../helpers/core.js";

// Concurrent writers on the real store: correctness comes from the store's unique
// inserts and the revision claims, never from in-process locks. A writer that waits out
// the contention budget answers ABORTED, the documented retryable answer (how many do
// depends on the machine's load), so the invariant is checked over what was acknowledged:
// every acknowledged write is readable with its exact value, versions 1..N have no gap or
// duplicate, and an ABORTED write left no trace (no version holds its value, no claim).

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

  /** Settles every call: fulfilled, or ABORTED (the documented retryable answer under contention); anything else fails. */
  async function settle<T>(calls: Promise<T>[]): Promise<({ ok: true; value: T } | { ok: false })[]> {
    const outcomes = await Promise.allSettled(calls);
    return outcomes.map((o) => {
      if (o.status === "fulfilled") return { ok: true, value: o.value };
      expect(o.reason, "a failed concurrent write").toBeInstanceOf(AbortedError);
      return { ok: false };
    });
  }

  /** The value of every version 1..latest (all must exist and open), and that nothing is left above latest or claimed. */
  async function versionValues(name: string): Promise<string[]> {
    const secret = await core.getSecret(dev, name);
    const latest = secret.latestVersion;
    const listed = await core.listSecretVersions(dev, { name, pageSize: 1_000, pageToken: "" });
    expect(listed.versions.map((v) => v.version), "versions latest..1, no gap, no duplicate").toEqual(Array.from({ length: latest }, (_, i) => latest - i));
    const values = await Promise.all(Array.from({ length: latest }, async (_, i) => (await core.getSecretValue(dev, name, i + 1)).value));
    const stored = (await fixture.store.findSecret(dev.tenant, name))!;
    expect(await fixture.store.findVersion(stored.id, latest + 1), "a version left above latest").toBeUndefined();
    const claims = await fixture.store.findClaimsOlderThan(new Date(Date.now() + 365 * 86_400_000), 1_000);
    expect(claims.filter((c) => c.secretId === stored.id), "a claim left behind").toEqual([]);
    return values;
  }

  // With the default contention budget (15 s) most or all writers get through; with none, every
  // writer that loses its first claim answers ABORTED, so the no-trace half is always exercised.
  it.each([
    ["the default contention budget", undefined],
    ["no contention budget (losers answer ABORTED at once)", 0],
  ])("50 concurrent value updates on one secret, %s: acknowledged ones readable exactly, versions 1..N without gaps, ABORTED ones leave no trace", async (_, contentionBudgetMs) => {
    const writers =
      contentionBudgetMs === undefined
        ? core
        : createSecretsService({ store: fixture.store, idempotency: fixture.idempotency, keys, clock: new ManualClock(), pendingLeaseMs: 30_000, contentionBudgetMs });
    const name = uniqueName();
    await core.createSecret(dev, createInput(name, "v-initial"));
    const values = Array.from({ length: 50 }, (_, i) => `value-${i}`);
    const outcomes = await settle(values.map((v) => writers.updateSecret(dev, valueUpdate(name, v))));
    const acked = values.filter((_, i) => outcomes[i]!.ok);
    const aborted = values.filter((_, i) => !outcomes[i]!.ok);
    expect(acked.length, "at least one writer gets through").toBeGreaterThan(0);
    if (contentionBudgetMs === 0) expect(aborted.length, "losers answered ABORTED").toBeGreaterThan(0);

    const stored = await versionValues(name);
    // Version 1 is the create; 2..N hold exactly the acknowledged values, each once; no aborted value anywhere.
    expect(stored.length).toBe(1 + acked.length);
    expect(stored[0]).toBe("v-initial");
    expect([...stored.slice(1)].sort()).toEqual([...acked].sort());
    for (const v of aborted) expect(stored, `aborted ${v} left a version`).not.toContain(v);
    // Each acknowledged write answered with its own version (or later) as latest.
    outcomes.forEach((o, i) => {
      if (o.ok) expect(o.value.latestVersion).toBeGreaterThanOrEqual(stored.indexOf(values[i]!) + 1);
    });
    expect((await core.getSecretValue(dev, name, 0)).value).toBe(stored.at(-1));
    // A write after the contention is over lands at N + 1.
    const next = await core.putSecretValue(dev, { name, value: "after", etag: "", requestId: "" });
    expect(next.version.version).toBe(stored.length + 1);
    if (aborted.length > 0 && contentionBudgetMs === undefined) console.info(`concurrency (${kind}): ${aborted.length} of 50 writers answered ABORTED`);
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
    const isValue = (i: number) => i % 2 === 0;
    const ops = Array.from({ length: 20 }, (_, i) =>
      isValue(i)
        ? core.updateSecret(dev, valueUpdate(name, `v-${i}`))
        : core.updateSecret(dev, { name, updateMask: ["description"], description: `d-${i}`, metadata: {}, etag: "" }),
    );
    const outcomes = await settle(ops);
    const ackedValues = outcomes.flatMap((o, i) => (o.ok && isValue(i) ? [`v-${i}`] : []));
    const ackedDescriptions = outcomes.flatMap((o, i) => (o.ok && !isValue(i) ? [`d-${i}`] : []));
    const ackedEtags = outcomes.flatMap((o) => (o.ok ? [o.value.etag] : []));

    // Every acknowledged write made one revision; every acknowledged value one version.
    const secret = await core.getSecret(dev, name);
    expect(secret.revision).toBe(1 + ackedEtags.length);
    expect(secret.latestVersion).toBe(1 + ackedValues.length);
    expect(new Set(ackedEtags).size).toBe(ackedEtags.length);
    const stored = await versionValues(name);
    expect([...stored.slice(1)].sort()).toEqual([...ackedValues].sort());
    // The description is an acknowledged one (the last to commit), never an aborted one's.
    if (ackedDescriptions.length > 0) expect(ackedDescriptions).toContain(secret.description);
    else expect(secret.description).toBe("");
  });
});
