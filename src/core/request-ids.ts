import { createHash } from "node:crypto";
import { AbortedError, InvalidArgumentError } from "../errors.js";
import type { Clock } from "../ports/clock.js";
import type { IdempotencyStore } from "../ports/idempotency-store.js";
import { newWriteId } from "./ids.js";
import { REQUEST_ID_RETENTION_MS } from "./limits.js";

// request_id: a retry within 24 hours returns the first successful response (as
// it was then) and creates nothing new; the same id with another request body is
// INVALID_ARGUMENT; a failed attempt is forgotten. Concurrent retries are serialised
// by a pending record (a unique insert). Nothing secret is stored: the fingerprint
// covers the non-secret fields, and the value is checked against the version the
// first call created.

export interface RequestIdDeps {
  readonly idempotency: IdempotencyStore;
  readonly clock: Clock;
  /** A pending record older than this is from a dead attempt and may be replaced: longer than any write may take. */
  readonly requestIdLeaseMs: number;
}

export interface RequestIdScope {
  readonly tenant: string;
  readonly method: string;
  readonly name: string;
  readonly requestId: string;
  /** The request's non-secret fields. */
  readonly fields: unknown;
}

export interface ReplayCodec<T> {
  encode(result: T): string;
  decode(json: string): T;
  /** Whether the first call wrote this value (opens the version it created). */
  sameValue(result: T): Promise<boolean>;
}

export async function withRequestId<T>(deps: RequestIdDeps, scope: RequestIdScope, codec: ReplayCodec<T>, run: () => Promise<T>): Promise<T> {
  if (!scope.requestId) return run();
  const key = digest([scope.tenant, scope.method, scope.name, scope.requestId]);
  const fingerprint = digest(scope.fields);
  for (let attempt = 0; attempt < 3; attempt++) {
    const now = deps.clock.now();
    const found = await deps.idempotency.find(key);
    if (found) {
      const age = now.getTime() - found.createTime.getTime();
      if (found.response !== undefined && age < REQUEST_ID_RETENTION_MS) {
        const first = codec.decode(found.response);
        if (found.fingerprint !== fingerprint || !(await codec.sameValue(first))) {
          throw new InvalidArgumentError("request_id", "was already used with a different request");
        }
        return first;
      }
      if (found.response === undefined && age < deps.requestIdLeaseMs) {
        throw new AbortedError("a request with this request_id is in progress; retry");
      }
      await deps.idempotency.abandon(key, found.writeId); // expired, or left by a dead attempt
    }
    const writeId = newWriteId();
    if (!(await deps.idempotency.begin({ key, writeId, fingerprint, createTime: now }))) continue;
    let result: T;
    try {
      result = await run();
    } catch (err) {
      await deps.idempotency.abandon(key, writeId).catch(() => {});
      throw err;
    }
    await deps.idempotency.complete(key, writeId, codec.encode(result));
    return result;
  }
  throw new AbortedError("a request with this request_id is in progress; retry");
}

function digest(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("base64url");
}
