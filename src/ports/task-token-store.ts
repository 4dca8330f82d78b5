// Task tokens the service minted (MongoDB collection `task_tokens`): what RevokeTaskToken needs to
// find a tenant's token, and what every call made with a task token checks (known, not revoked).
// Durable on purpose: a revocation must survive a Redis restart. See auth/task-tokens.ts.

export interface TaskTokenRecord {
  /** The token's jti. */
  readonly id: string;
  /** The tenant the token acts for. */
  readonly tenant: string;
  /** The minting caller's sub. */
  readonly subject: string;
  readonly label: string;
  readonly scopes: readonly string[];
  readonly secrets: readonly string[];
  readonly createTime: Date;
  readonly expireTime: Date;
  readonly revokeTime?: Date;
}

/** Errors: UnavailableError when the database cannot be reached; InvalidArgumentError for an argument of the wrong type. */
export interface TaskTokenStore {
  insert(record: TaskTokenRecord): Promise<void>;
  find(id: string): Promise<TaskTokenRecord | undefined>;
  /**
   * Marks the tenant's token revoked at `time` (an earlier revocation time is kept).
   * False when there is no such token of that tenant.
   */
  revoke(tenant: string, id: string, time: Date): Promise<boolean>;
  /** Removes records that expired before `time`, at most `limit`; returns how many. */
  removeExpiredBefore(time: Date, limit: number): Promise<number>;
}
