/**
 * Remembers the first successful response of a request_id (scoped to tenant,
 * method and name) for 24 hours. A record is inserted "pending" before the write
 * (a unique insert: one attempt runs), completed with the response after it, and
 * removed if the attempt fails, so a failed first attempt is not remembered.
 */
export interface IdempotencyRecord {
  /** Digest of (tenant, method, name, request_id). */
  readonly key: string;
  readonly writeId: string;
  /** Digest of the request's non-secret fields; the value is checked by opening the version. */
  readonly fingerprint: string;
  readonly createTime: Date;
  /** JSON of the first response (never holds a secret value); absent while pending. */
  readonly response?: string;
}

export interface IdempotencyStore {
  /** False when the key is already recorded. */
  begin(record: IdempotencyRecord): Promise<boolean>;
  find(key: string): Promise<IdempotencyRecord | undefined>;
  complete(key: string, writeId: string, response: string): Promise<void>;
  /** Removes the record if `writeId` holds it. */
  abandon(key: string, writeId: string): Promise<void>;
  /** Removes records created before `time`; returns how many. */
  removeOlderThan(time: Date, limit: number): Promise<number>;
}
