// Where audit events are kept (MongoDB collection `audit_events`, append-only from the service's
// point of view; the retention sweep is the only removal). See core/audit-trail.ts.

/** One RPC, as recorded. Never a value, a token or a request body. */
export interface AuditEvent {
  /** Unique and increasing with time within a process (see core/audit-trail.ts newEventId). */
  readonly id: string;
  readonly time: Date;
  readonly requestId: string;
  /** The token's sub; "" when the call was not authenticated. */
  readonly principal: string;
  /** The tenant the call acted for; "" when the call was not authenticated (visible to no tenant). */
  readonly tenant: string;
  readonly delegated: boolean;
  /** Task tokens only; "" otherwise. */
  readonly tokenId: string;
  readonly tokenLabel: string;
  /** The RPC's short name ("GetSecretValue"). */
  readonly method: string;
  readonly names: readonly string[];
  /** Parallel to names; 0 = no particular version. */
  readonly versions: readonly number[];
  /** gRPC status code. */
  readonly code: number;
  readonly peerAddress: string;
  readonly userAgent: string;
  readonly mtlsSubject: string;
  /** ProxyHttpRequest: the upstream call, once it went to the egress (status 0: no answer). Never a path, query, header or body. */
  readonly httpCall?: AuditHttpCall;
}

export interface AuditHttpCall {
  readonly method: string;
  /** The URL's host, with ":port" when the URL named one. */
  readonly host: string;
  /** The upstream's HTTP status; 0 when no answer came. */
  readonly status: number;
  readonly durationMs: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
}

export interface AuditQuery {
  /** Always a non-empty tenant: events of unauthenticated calls are never listed. */
  readonly tenant: string;
  /** Events whose names include it. */
  readonly name?: string;
  readonly method?: string;
  readonly code?: number;
  /** Inclusive. */
  readonly startTime?: Date;
  /** Exclusive. */
  readonly endTime?: Date;
  /** Cursor: only events strictly before (time, id) in the listing order. */
  readonly before?: { readonly time: Date; readonly id: string };
  readonly limit: number;
}

/** Errors: UnavailableError when the database cannot be reached; InvalidArgumentError for an argument of the wrong type. */
export interface AuditStore {
  /** Durable once it resolves. Appending an event whose id is already stored is not an error (a retried batch). */
  append(events: readonly AuditEvent[]): Promise<void>;
  /** Ordered by (time, id) descending. */
  list(query: AuditQuery): Promise<AuditEvent[]>;
  /** Removes events older than `time`, at most `limit`; returns how many. */
  removeOlderThan(time: Date, limit: number): Promise<number>;
}
