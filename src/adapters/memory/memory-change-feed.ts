import { UnavailableError } from "../../errors.js";
import type { ChangeEvent } from "../../ports/change-events.js";
import type { ChangeFeed, FeedListener, FeedSubscription } from "../../ports/change-feed.js";

/** What several MemoryChangeFeeds share, as replicas share one Redis: a publish on one reaches them all. */
export class MemoryChangeBus {
  private readonly members = new Set<(event: ChangeEvent) => void>();

  join(deliver: (event: ChangeEvent) => void): () => void {
    const member = (event: ChangeEvent) => deliver(event);
    this.members.add(member);
    return () => {
      this.members.delete(member);
    };
  }

  send(event: ChangeEvent): void {
    for (const deliver of [...this.members]) deliver(event);
  }
}

interface Registration {
  readonly tenant: string;
  readonly listener: FeedListener;
}

/**
 * The ChangeFeed in process memory (dev mode, unit tests): always connected; a publish is delivered
 * before it resolves. loseConnection() plays a lost Redis connection for tests.
 */
export class MemoryChangeFeed implements ChangeFeed {
  private readonly bus: MemoryChangeBus;
  private readonly leave: () => void;
  private readonly registrations = new Map<string, Set<Registration>>();
  private closed = false;

  constructor(bus = new MemoryChangeBus()) {
    this.bus = bus;
    this.leave = bus.join((event) => this.receive(event));
  }

  async publish(event: ChangeEvent): Promise<void> {
    if (this.closed) throw new UnavailableError("change feed closed");
    this.bus.send(event);
  }

  async subscribe(tenant: string, listener: FeedListener): Promise<FeedSubscription> {
    if (this.closed) throw new UnavailableError("change feed closed");
    const registration = { tenant, listener };
    const group = this.registrations.get(tenant) ?? new Set();
    this.registrations.set(tenant, group.add(registration));
    return { unsubscribe: () => this.remove(registration) };
  }

  /** Every current listener is told lost() and removed; the feed itself stays usable, as after a reconnect. */
  loseConnection(): void {
    const all = [...this.registrations.values()].flatMap((group) => [...group]);
    this.registrations.clear();
    for (const { listener } of all) callSafely(() => listener.lost());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.leave();
    this.loseConnection();
  }

  private receive(event: ChangeEvent): void {
    const group = this.registrations.get(event.tenant);
    if (!group) return;
    for (const registration of [...group]) {
      // A listener may have unsubscribed another one of the group meanwhile.
      if (!group.has(registration)) continue;
      // Each listener its own copy, as if it had come over the wire.
      const copy = { ...event, versions: [...event.versions], time: new Date(event.time) };
      try {
        registration.listener.event(copy);
      } catch {
        // A listener that throws is treated as gone; the others still get the event.
        this.remove(registration);
        callSafely(() => registration.listener.lost());
      }
    }
  }

  private remove(registration: Registration): void {
    const group = this.registrations.get(registration.tenant);
    if (!group?.delete(registration)) return;
    if (group.size === 0) this.registrations.delete(registration.tenant);
  }
}

function callSafely(call: () => void): void {
  try {
    call();
  } catch {
    // The listener's failure is its own: the feed carries on.
  }
}
