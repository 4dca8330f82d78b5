import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { UnavailableError } from "../../src/errors.js";
import type { ChangeEvent } from "../../src/ports/change-events.js";
import type { ChangeFeed, FeedListener } from "../../src/ports/change-feed.js";
import { waitUntil } from "../helpers/lifecycle.js";

// One exercise suite for every ChangeFeed implementation. A fixture is one "Redis": each feed it opens
// is another replica on it. Each test uses fresh tenants, so files sharing one server never meet.

export interface FeedFixture {
  /** A new feed, as one more replica on the fixture's bus. */
  openFeed(): ChangeFeed;
  dispose(): Promise<void>;
}

export const freshTenant = () => `t-${randomBytes(6).toString("hex")}`;

export function changeEvent(tenant: string, revision: number, overrides: Partial<ChangeEvent> = {}): ChangeEvent {
  return {
    tenant,
    name: "api_key",
    incarnation: `inc-${tenant}`,
    revision,
    latestVersion: revision,
    kind: "version_added",
    versions: [revision],
    time: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, revision % 1000)),
    ...overrides,
  };
}

/** A listener that records what it is told. */
export interface Recorder extends FeedListener {
  readonly events: ChangeEvent[];
  readonly losses: number;
}

export function recorder(): Recorder {
  const events: ChangeEvent[] = [];
  let losses = 0;
  return {
    events,
    get losses() {
      return losses;
    },
    event: (e) => void events.push(e),
    lost: () => void losses++,
  };
}

export const revisions = (r: Recorder) => r.events.map((e) => e.revision);

export function changeFeedContract(kind: string, open: () => Promise<FeedFixture>): void {
  describe(`ChangeFeed contract: ${kind}`, () => {
    let fixture: FeedFixture | undefined;
    const feeds: ChangeFeed[] = [];
    /** A replica on this test's bus, closed after the test. */
    const replica = async () => {
      fixture ??= await open();
      const feed = fixture.openFeed();
      feeds.push(feed);
      return feed;
    };
    afterEach(async () => {
      await Promise.all(feeds.splice(0).map((feed) => feed.close()));
      await fixture?.dispose();
      fixture = undefined;
    });

    it("delivers a tenant's events in publish order, with every field, and never another tenant's", async () => {
      const feed = await replica();
      const [a, b] = [freshTenant(), freshTenant()];
      const [forA, forB] = [recorder(), recorder()];
      await feed.subscribe(a, forA);
      await feed.subscribe(b, forB);
      const published: ChangeEvent[] = [];
      for (let revision = 1; revision <= 10; revision++) {
        for (const tenant of [a, b]) {
          const event = changeEvent(tenant, revision, { kind: revision % 2 ? "updated" : "version_destroyed", versions: [revision, revision + 1] });
          published.push(event);
          await feed.publish(event);
        }
      }
      // Also when the publishes are not awaited one by one.
      const burst = [11, 12, 13, 14, 15].map((revision) => changeEvent(a, revision));
      await Promise.all(burst.map((event) => feed.publish(event)));
      await waitUntil(() => forA.events.length >= 15 && forB.events.length >= 10, "both tenants' events arrive");
      expect(forA.events).toEqual([...published.filter((e) => e.tenant === a), ...burst]);
      expect(forB.events).toEqual(published.filter((e) => e.tenant === b));
      expect(forA.events[0]?.time).toBeInstanceOf(Date);
      expect(forA.losses + forB.losses).toBe(0);
    });

    it("carries events between replicas both ways, to every listener of the tenant on each", async () => {
      const [one, two] = [await replica(), await replica()];
      const tenant = freshTenant();
      const listeners = [recorder(), recorder(), recorder()];
      await one.subscribe(tenant, listeners[0]!);
      await two.subscribe(tenant, listeners[1]!);
      await two.subscribe(tenant, listeners[2]!);
      await one.publish(changeEvent(tenant, 1));
      await two.publish(changeEvent(tenant, 2));
      await waitUntil(() => listeners.every((l) => l.events.length >= 2), "every listener has both events");
      for (const listener of listeners) expect(revisions(listener)).toEqual([1, 2]);
    });

    it("delivers an event published right after subscribe() resolved, on a fresh feed each time", async () => {
      const publisher = await replica();
      for (let round = 1; round <= 3; round++) {
        const tenant = freshTenant();
        const [here, there] = [recorder(), recorder()];
        const fresh = await replica();
        await fresh.subscribe(tenant, here);
        await publisher.publish(changeEvent(tenant, round));
        const other = await replica();
        await other.subscribe(tenant, there);
        await other.publish(changeEvent(tenant, round + 100));
        await waitUntil(() => here.events.length >= 2 && there.events.length >= 1, `round ${round}'s events arrive`);
        expect(revisions(here)).toEqual([round, round + 100]);
        expect(revisions(there)).toEqual([round + 100]);
      }
    });

    it("stops delivering to a listener once unsubscribed, and keeps delivering to the others", async () => {
      const feed = await replica();
      const tenant = freshTenant();
      const [leaving, staying] = [recorder(), recorder()];
      const subscription = await feed.subscribe(tenant, leaving);
      await feed.subscribe(tenant, staying);
      await feed.publish(changeEvent(tenant, 1));
      await waitUntil(() => leaving.events.length === 1 && staying.events.length === 1, "the first event arrives");
      subscription.unsubscribe();
      subscription.unsubscribe();
      await feed.publish(changeEvent(tenant, 2));
      await feed.publish(changeEvent(tenant, 3));
      await waitUntil(() => staying.events.length === 3, "the later events reach the staying listener");
      expect(revisions(leaving)).toEqual([1]);
      expect(leaving.losses).toBe(0);
    });

    it("lets a listener unsubscribe from inside event(), and isolates one that throws", async () => {
      const feed = await replica();
      const tenant = freshTenant();
      const throwing = recorder();
      const steady = recorder();
      const bug = () => {
        throw new Error("listener bug");
      };
      await feed.subscribe(tenant, { event: bug, lost: () => throwing.lost() });
      const selfEnding = recorder();
      const subscription = await feed.subscribe(tenant, {
        event: (e) => {
          selfEnding.event(e);
          subscription.unsubscribe();
        },
        lost: () => selfEnding.lost(),
      });
      await feed.subscribe(tenant, steady);
      for (const revision of [1, 2]) await feed.publish(changeEvent(tenant, revision));
      await waitUntil(() => steady.events.length === 2, "the steady listener has both events");
      expect(revisions(selfEnding)).toEqual([1]);
      expect(throwing.losses).toBe(1); // a throwing listener is ended, never called again
      expect(selfEnding.losses + steady.losses).toBe(0);
    });

    it("gives each listener its own copy of an event", async () => {
      const feed = await replica();
      const tenant = freshTenant();
      const [first, second] = [recorder(), recorder()];
      await feed.subscribe(tenant, first);
      await feed.subscribe(tenant, second);
      const event = changeEvent(tenant, 7);
      await feed.publish(event);
      await waitUntil(() => second.events.length === 1, "the event arrives");
      first.events[0]!.time.setTime(0);
      expect(second.events[0]).toEqual(event);
    });

    it("closes idempotently: listeners are told lost() once, later calls fail with UnavailableError", async () => {
      const feed = await replica();
      const tenant = freshTenant();
      const listener = recorder();
      await feed.subscribe(tenant, listener);
      await Promise.all([feed.close(), feed.close()]);
      await feed.close();
      expect(listener.losses).toBe(1);
      await expect(feed.subscribe(tenant, recorder())).rejects.toBeInstanceOf(UnavailableError);
      await expect(feed.publish(changeEvent(tenant, 1))).rejects.toBeInstanceOf(UnavailableError);
      expect(listener.losses).toBe(1);
    });

    it("keeps working for the other replicas when one closes", async () => {
      const [closing, staying] = [await replica(), await replica()];
      const tenant = freshTenant();
      const [gone, here] = [recorder(), recorder()];
      await closing.subscribe(tenant, gone);
      await staying.subscribe(tenant, here);
      await closing.close();
      await staying.publish(changeEvent(tenant, 1));
      await waitUntil(() => here.events.length === 1, "the event reaches the staying replica");
      expect(gone.events).toEqual([]);
      expect(gone.losses).toBe(1);
    });
  });
}
