import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import { openKeys, openStore, type StoreFixture, type StoreKind } from "../helpers/adapters.js";
import { ManualClock, coreOver, createInput, principal, uniqueName, valueUpdate } from "../helpers/core.js";
import { SimulatedCrash, crashingStore } from "../helpers/crashing-store.js";
import { sweepOnce } from "../../src/core/sweeper.js";
import type { VersionState } from "../../src/ports/secret-store.js";

// A writer killed between any two of its store writes leaves the old state or the
// new one: never a readable partial version, never a latest that points at nothing;
// and after the lease the secret takes writes again.

const LEASE_MS = 30_000;

describe.each<StoreKind>(["memory", "mongodb"])("crash between writes (%s)", (kind) => {
  let fixture: StoreFixture;
  let keys: KeyProvider;
  const dev = principal("dev_crash");

  beforeAll(async () => {
    fixture = await openStore(kind, "crash");
    keys = openKeys("local");
  });
  afterAll(async () => {
    await keys.close();
    await fixture.dispose();
  });

  /** Every version up to latest opens to a value the test wrote. */
  async function expectConsistent(name: string, clock: ManualClock, allowed: Set<string>) {
    const core = coreOver(fixture.store, keys, clock, LEASE_MS);
    const secret = await core.getSecret(dev, name);
    const latest = await core.getSecretValue(dev, name, 0);
    expect(latest.version).toBe(secret.latestVersion);
    for (let v = 1; v <= secret.latestVersion; v++) {
      expect(allowed.has((await core.getSecretValue(dev, name, v)).value)).toBe(true);
    }
    return secret;
  }

  it("an update with a new value, crashed at every step, leaves old or new state and recovers", async () => {
    let sawOld = false;
    let sawNew = false;
    let sawRollForward = false;
    for (let crashAt = 0; crashAt < 12; crashAt++) {
      const clock = new ManualClock();
      const name = uniqueName("upd");
      await coreOver(fixture.store, keys, clock, LEASE_MS).createSecret(dev, createInput(name, "old"));
      const { store: dying, crashed } = crashingStore(fixture.store, crashAt);
      const attempt = coreOver(dying, keys, clock, LEASE_MS).updateSecret(dev, { ...valueUpdate(name, "new"), description: "d" });
      const outcome = await attempt.then(() => "ok", (err: unknown) => err);
      if (!crashed()) {
        expect(outcome).toBe("ok");
        continue;
      }
      // A crash after the commit point (while releasing the claim) still reports success.
      if (outcome !== "ok") expect(outcome).toBeInstanceOf(SimulatedCrash);
      const after = await expectConsistent(name, clock, new Set(["old", "new"]));
      if (outcome === "ok") expect(after.latestVersion).toBe(2);
      if (after.latestVersion === 1) sawOld = true;
      else {
        sawNew = true;
        expect(after.description).toBe("d");
      }
      // Once the crashed writer's lease is over, the next writer completes the crashed write if its
      // version got stored (roll forward), then writes its own.
      clock.advance(LEASE_MS + 1);
      const restarted = coreOver(fixture.store, keys, clock, LEASE_MS);
      const next = await restarted.updateSecret(dev, valueUpdate(name, "after-crash"));
      expect([after.latestVersion + 1, after.latestVersion + 2]).toContain(next.latestVersion);
      if (next.latestVersion === after.latestVersion + 2) {
        sawRollForward = true;
        expect((await restarted.getSecretValue(dev, name, after.latestVersion + 1)).value).toBe("new");
        expect(next.description).toBe("d");
      }
      expect((await restarted.getSecretValue(dev, name, 0)).value).toBe("after-crash");
      await expectConsistent(name, clock, new Set(["old", "new", "after-crash"]));
    }
    expect(sawOld).toBe(true);
    expect(sawNew).toBe(true);
    expect(sawRollForward).toBe(true);
  });

  it("a create crashed at every step leaves no secret or a whole one, and the name stays usable", async () => {
    for (let crashAt = 0; crashAt < 6; crashAt++) {
      const clock = new ManualClock();
      const name = uniqueName("crt");
      const { store: dying, crashed } = crashingStore(fixture.store, crashAt);
      const outcome = await coreOver(dying, keys, clock, LEASE_MS)
        .createSecret(dev, createInput(name, "first"))
        .then(() => "ok", (err: unknown) => err);
      const core = coreOver(fixture.store, keys, clock, LEASE_MS);
      const exists = await core.getSecret(dev, name).then(() => true, () => false);
      if (exists) {
        await expectConsistent(name, clock, new Set(["first"]));
      } else {
        expect(crashed()).toBe(true);
        expect(outcome).toBeInstanceOf(SimulatedCrash);
        await core.createSecret(dev, createInput(name, "second"));
        expect((await core.getSecretValue(dev, name, 0)).value).toBe("second");
      }
    }
  });

  it.each<VersionState>(["disabled", "destroyed"])(
    "setting the newest version %s, crashed at every step, reads consistently (old or new) and is completed by the sweeper",
    async (state) => {
      let sawOld = false;
      let sawNew = false;
      let completedByRecovery = false;
      for (let crashAt = 0; crashAt < 12; crashAt++) {
        const clock = new ManualClock();
        const name = uniqueName("st");
        const core = coreOver(fixture.store, keys, clock, LEASE_MS, fixture.idempotency);
        await core.createSecret(dev, createInput(name, "v1"));
        await core.putSecretValue(dev, { name, value: "v2", etag: "", requestId: "" });
        const { store: dying, crashed } = crashingStore(fixture.store, crashAt);
        await coreOver(dying, keys, clock, LEASE_MS)
          .setVersionState(dev, { name, version: 2, etag: "" }, state)
          .catch((err: unknown) => expect(err).toBeInstanceOf(SimulatedCrash));
        // Right after the crash: version 0 and version 2 by number tell the same story.
        const latest = await core.getSecretValue(dev, name, 0);
        const v2 = await core.getSecretValue(dev, name, 2).then(() => "enabled", () => state);
        expect(latest.version, `crash at ${crashAt}`).toBe(v2 === "enabled" ? 2 : 1);
        if (latest.version === 2) sawOld = true;
        else sawNew = true;
        const listed = (await core.listSecretVersions(dev, { name, pageSize: 0, pageToken: "" })).versions;
        expect(listed[0]!.state).toBe(latest.version === 2 ? "enabled" : state);
        if (!crashed()) continue;
        // After the lease a sweep settles it: a claimed write is completed (new state everywhere,
        // ciphertext erased); a crash before the claim left the old state. No claim is left.
        clock.advance(LEASE_MS + 1);
        await sweepOnce({ store: fixture.store, idempotency: fixture.idempotency, clock, pendingLeaseMs: LEASE_MS });
        const settled = (await core.getSecretValue(dev, name, 0)).version;
        const secret = await fixture.store.findSecret(dev.tenant, name);
        const stored = await fixture.store.findVersion(secret!.id, 2);
        expect(stored?.state).toBe(settled === 1 ? state : "enabled");
        if (settled === 1 && state === "destroyed") expect(stored?.sealed).toBeUndefined();
        if (latest.version === 2 && settled === 1) completedByRecovery = true;
        expect(await fixture.store.findClaimsOlderThan(new Date(clock.now().getTime() + 1), 10)).toEqual([]);
      }
      expect(sawOld).toBe(true);
      expect(sawNew).toBe(true);
      expect(completedByRecovery).toBe(true);
    },
  );
});
