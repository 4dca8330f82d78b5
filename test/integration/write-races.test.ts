import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AbortedError, UnavailableError } from "../../src/errors.js";
import { systemClock } from "../../src/ports/clock.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import type { SecretStore } from "../../src/ports/secret-store.js";
import { openKeys, openStore, type StoreFixture } from "../helpers/adapters.js";
import { coreOver, createInput, principal, uniqueName } from "../helpers/core.js";
import { withStoreMethod } from "../helpers/store-method.js";

// Writers that stall past the lease, and what they leave behind, on the real store.
// The lease is short (2 s) so another writer rolls the stalled write forward soon; long enough
// that a writer's own steps fit in half of it on a busy machine (they take milliseconds). A stalled
// writer waits at a gate until the test has done what it must do meanwhile, never for a fixed
// time, so the order of events is the same on an idle machine and on a busy one.

const LEASE_MS = 2_000;
const unusedRewrap: Pick<KeyProvider, "rewrapDataKey" | "resolveKeyId" | "activeKeyId"> = {
  rewrapDataKey: () => Promise.reject(new Error("not used here")),
  resolveKeyId: () => Promise.reject(new Error("not used here")),
  activeKeyId: () => Promise.reject(new Error("not used here")),
};
const dev = principal("dev_races");

/** A gate a stalled call waits at: `reached` resolves when the call arrives, `release()` lets it go on. */
interface Hold {
  readonly reached: Promise<void>;
  release(): void;
}

function newHold(): Hold & { arrive(): Promise<void> } {
  let arrived!: () => void;
  let released!: () => void;
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  const gate = new Promise<void>((resolve) => (released = resolve));
  return {
    reached,
    release: () => released(),
    arrive: () => {
      arrived();
      return gate;
    },
  };
}

/**
 * The store, with one method held once (the first call for which `when` holds) until the test releases
 * it: before the call reaches the store, or with `after`, once it has (its result held back).
 */
function holdOnce<K extends keyof SecretStore>(
  store: SecretStore,
  method: K,
  when: (...args: Parameters<SecretStore[K]>) => boolean = () => true,
  after = false,
): { store: SecretStore } & Hold {
  let done = false;
  const hold = newHold();
  const held = new Proxy(store, {
    get(target, prop, receiver) {
      const member = Reflect.get(target, prop, receiver) as unknown;
      if (typeof member !== "function") return member;
      const bound = (member as (...a: unknown[]) => unknown).bind(target);
      if (prop !== method) return bound;
      return async (...args: Parameters<SecretStore[K]>) => {
        if (done || !when(...args)) return bound(...args);
        done = true;
        if (!after) await hold.arrive();
        const result = await bound(...args);
        if (after) await hold.arrive();
        return result;
      };
    },
  });
  return { store: held, reached: hold.reached, release: hold.release };
}

/** Waits until a claim written before now is older than the lease, by the clock the writers use. */
const pastTheLease = () => sleep(LEASE_MS + 50);

/** Waits until `writer` is held at the gate; fails at once (instead of hanging) if it ends before. */
async function heldAt(hold: Hold, writer: Promise<unknown>): Promise<void> {
  const ended = writer.then(
    () => Promise.reject(new Error("the writer finished before reaching the gate")),
    (err: unknown) => Promise.reject(err),
  );
  ended.catch(() => {}); // the race below reports it; once held, the writer's own outcome is awaited later
  await Promise.race([hold.reached, ended]);
}

describe("stalled writers (FerretDB)", () => {
  let fixture: StoreFixture;
  let keys: KeyProvider;
  beforeEach(async () => {
    fixture = await openStore("mongodb", "races");
    keys = openKeys("local");
  });
  afterEach(async () => {
    await keys.close();
    await fixture.dispose();
  });
  const core = (store: SecretStore = fixture.store) => coreOver(store, keys, systemClock, LEASE_MS, fixture.idempotency);

  it("a commit that lands after its write was rolled forward reports success and keeps the version", async () => {
    const name = uniqueName();
    const created = await core().createSecret(dev, createInput(name, "v1"));
    // Writer A's commit reaches the database after the lease; B rolls A's claim forward meanwhile.
    const commit = holdOnce(fixture.store, "updateSecret");
    const a = core(commit.store).putSecretValue(dev, { name, value: "from-A", etag: created.etag, requestId: "" });
    await heldAt(commit, a);
    await pastTheLease();
    const b = await core().updateSecret(dev, { name, updateMask: ["description"], description: "from-B", metadata: {}, etag: "" });
    commit.release();
    const aResult = await a;
    expect(aResult.version.version).toBe(2);
    expect(b.latestVersion).toBe(2);
    expect(b.description).toBe("from-B");
    expect((await core().getSecretValue(dev, name, 2)).value).toBe("from-A");
    expect((await core().listSecretVersions(dev, { name, pageSize: 0, pageToken: "" })).versions.map((v) => v.version)).toEqual([2, 1]);
  });

  it("a writer stalled past the lease after inserting its version leaves it alone once it was rolled forward", async () => {
    const name = uniqueName();
    await core().createSecret(dev, createInput(name, "v1"));
    // A's version 2 is stored, then A stalls; B rolls A's claim forward (committing version 2) and writes 3.
    const inserted = holdOnce(fixture.store, "insertVersion", () => true, true);
    const a = core(inserted.store).putSecretValue(dev, { name, value: "from-A", etag: "", requestId: "" });
    await heldAt(inserted, a);
    await pastTheLease();
    const b = await core().putSecretValue(dev, { name, value: "from-B", etag: "", requestId: "" });
    expect(b.version.version).toBe(3);
    inserted.release();
    // A cannot know its write was completed: retryable, and it must not undo what is now committed.
    await expect(a).rejects.toBeInstanceOf(UnavailableError);
    expect((await core().listSecretVersions(dev, { name, pageSize: 0, pageToken: "" })).versions.map((v) => v.version)).toEqual([3, 2, 1]);
    expect((await core().getSecretValue(dev, name, 2)).value).toBe("from-A");
    expect((await core().getSecretValue(dev, name, 0)).value).toBe("from-B");
  });

  it("a commit that reports an error but landed is not undone", async () => {
    const name = uniqueName();
    await core().createSecret(dev, createInput(name, "v1"));
    // The commit reaches the database, its reply is lost (as when the connection drops).
    let lost = false;
    const lossy = withStoreMethod(fixture.store, "updateSecret", async (updateSecret, ...args) => {
      const result = await updateSecret(...args);
      if (lost) return result;
      lost = true;
      throw new UnavailableError("connection closed");
    });
    await expect(core(lossy).putSecretValue(dev, { name, value: "landed", etag: "", requestId: "" })).rejects.toBeInstanceOf(UnavailableError);
    expect(lost).toBe(true);
    const secret = await core().getSecret(dev, name);
    expect(secret.latestVersion).toBe(2);
    expect((await core().getSecretValue(dev, name, 2)).value).toBe("landed");
    expect((await core().listSecretVersions(dev, { name, pageSize: 0, pageToken: "" })).versions.map((v) => v.version)).toEqual([2, 1]);
    // The claim it left is no obstacle: the next write takes the next revision and version.
    expect((await core().putSecretValue(dev, { name, value: "next", etag: "", requestId: "" })).version.version).toBe(3);
  });

  it("a create whose secret insert reports an error but landed keeps its version 1", async () => {
    const name = uniqueName();
    const lossy = withStoreMethod(fixture.store, "insertSecret", async (insertSecret, ...args) => {
      await insertSecret(...args);
      throw new UnavailableError("connection closed");
    });
    await expect(core(lossy).createSecret(dev, createInput(name, "first"))).rejects.toBeInstanceOf(UnavailableError);
    expect((await core().getSecretValue(dev, name, 1)).value).toBe("first");
    expect((await core().listSecretVersions(dev, { name, pageSize: 0, pageToken: "" })).versions.map((v) => v.version)).toEqual([1]);
  });

  it("a version document left above latest (no claim) does not block value writes", async () => {
    const name = uniqueName();
    await core().createSecret(dev, createInput(name, "v1"));
    const secret = (await fixture.store.findSecret(dev.tenant, name))!;
    const orphan = (await fixture.store.findVersion(secret.id, 1))!;
    expect(await fixture.store.insertVersion({ ...orphan, version: 2, writeId: "dead-writer" })).toBe(true);
    const put = await core().putSecretValue(dev, { name, value: "v2", etag: "", requestId: "" });
    expect(put.version.version).toBe(2);
    expect((await core().getSecretValue(dev, name, 0)).value).toBe("v2");
    expect((await fixture.store.findVersion(secret.id, 2))?.writeId).not.toBe("dead-writer");
  });

  it("a writer stalled past half the lease before inserting its version retries instead of leaving an orphan", async () => {
    const name = uniqueName();
    await core().createSecret(dev, createInput(name, "v1"));
    // The first data key comes after the lease is over: between A's claim and its version insert.
    const dataKey = newHold();
    let stalled = false;
    const slowKeys: KeyProvider = {
      ...unusedRewrap,
      generateDataKey: async (c) => {
        if (!stalled) {
          stalled = true;
          await dataKey.arrive();
        }
        return keys.generateDataKey(c);
      },
      decryptDataKey: (id, w, c) => keys.decryptDataKey(id, w, c),
      close: async () => {},
    };
    const slow = coreOver(fixture.store, slowKeys, systemClock, LEASE_MS, fixture.idempotency);
    const a = slow.putSecretValue(dev, { name, value: "from-A", etag: "", requestId: "" });
    await heldAt(dataKey, a);
    await pastTheLease();
    await core().updateSecret(dev, { name, updateMask: ["description"], description: "from-B", metadata: {}, etag: "" });
    dataKey.release();
    const aResult = await a;
    const secret = await core().getSecret(dev, name);
    expect(secret.latestVersion).toBe(aResult.version.version);
    expect((await core().getSecretValue(dev, name, 0)).value).toBe("from-A");
    const versions = (await core().listSecretVersions(dev, { name, pageSize: 0, pageToken: "" })).versions.map((v) => v.version);
    expect(versions).toEqual(Array.from({ length: secret.latestVersion }, (_, i) => secret.latestVersion - i));
    expect(await fixture.store.findVersion(secret.id, secret.latestVersion + 1)).toBeUndefined();
  });

  it("a retry with the same request_id while the first attempt is slow waits for it instead of writing twice", async () => {
    const name = uniqueName();
    await core().createSecret(dev, createInput(name, "v1"));
    // The first attempt stalls before its claim, for longer than a write's lease.
    const claim = holdOnce(fixture.store, "claimRevision");
    const first = core(claim.store).putSecretValue(dev, { name, value: "once", etag: "", requestId: "req-1" });
    await heldAt(claim, first);
    await pastTheLease();
    const early = await core().putSecretValue(dev, { name, value: "once", etag: "", requestId: "req-1" }).then(() => "ok", (e: unknown) => e);
    expect(early).toBeInstanceOf(AbortedError);
    claim.release();
    const firstResult = await first;
    const retry = await core().putSecretValue(dev, { name, value: "once", etag: "", requestId: "req-1" });
    expect(retry.version.version).toBe(firstResult.version.version);
    expect((await core().getSecret(dev, name)).latestVersion).toBe(2);
  });
});
