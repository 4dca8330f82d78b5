// Change feed port: carries the core's commit events (ChangeEvent) to every replica, for the
// WatchSecrets stream (Redis pub/sub in production, in-process fan-out in dev mode). The feed is
// best effort by design: it never stores events, so a subscriber that loses the feed may have missed
// some, is told so (`lost`), ends, and its client subscribes again and re-reads what it watches.
// Events name secrets and versions, never a value.

import type { ChangeEvent } from "./change-events.js";

export interface FeedListener {
  /** One event of the tenant subscribed to, in publish order (per publishing replica). Must not throw. */
  event(event: ChangeEvent): void;
  /**
   * The feed lost its connection (or was closed): events may have been missed. The subscription has
   * ended already; the subscriber must end too. Called at most once, and no event() follows it.
   */
  lost(): void;
}

export interface FeedSubscription {
  /** Stops delivery at once; calling it again, or after lost(), does nothing. */
  unsubscribe(): void;
}

export interface ChangeFeed {
  /** Sends the event to the subscribers of its tenant on every replica (this one's too). Rejects with UnavailableError when it cannot. */
  publish(event: ChangeEvent): Promise<void>;
  /**
   * Registers a listener for one tenant's events. Resolves once the subscription is active: every
   * event published after that reaches the listener, unless lost() is called first. Rejects with
   * UnavailableError when the feed is down (after waiting a bounded time for it to come back) or closed.
   */
  subscribe(tenant: string, listener: FeedListener): Promise<FeedSubscription>;
  /** Calls lost() on every current listener and releases the connections. Idempotent. */
  close(): Promise<void>;
}
