// What the core tells the rest of the service after every committed mutation: the cache invalidates
// from it; the change stream and the audit trail will consume the same events.

export type ChangeKind =
  | "created"
  | "updated"
  | "version_added"
  | "version_enabled"
  | "version_disabled"
  | "version_destroyed"
  | "deleted"
  /** Marked deleted and due at once (a forced delete): its purge follows, in the same call or the next sweep. */
  | "purging"
  | "restored"
  | "purged";

export interface ChangeEvent {
  readonly tenant: string;
  readonly name: string;
  /** The secret's incarnation id (SecretRecord.id). */
  readonly incarnation: string;
  /** The revision the change committed (for a purge: the last one the core saw). */
  readonly revision: number;
  /** The secret's latest version after the change (for a purge: the last one the core saw). */
  readonly latestVersion: number;
  readonly kind: ChangeKind;
  /** Versions the change added or whose state it changed (retention's destroys included), ascending. */
  readonly versions: readonly number[];
  readonly time: Date;
}

/**
 * Called after the commit and before the mutation returns, so a listener that invalidates a cache
 * makes the write visible to every later read. A listener's failure fails the call (the write stays
 * committed): listeners that must not fail a write handle their own errors.
 */
export interface ChangeListener {
  committed(event: ChangeEvent): Promise<void>;
}
