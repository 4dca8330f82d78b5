import { MongoClient } from "mongodb";
import { MongoAuditStore } from "./mongo-audit-store.js";
import { MongoCacheStateStore } from "./mongo-cache-state-store.js";
import { MongoIdempotencyStore } from "./mongo-idempotency-store.js";
import { MongoSecretStore } from "./mongo-secret-store.js";
import { MongoTaskTokenStore } from "./mongo-task-token-store.js";
import { unavailable } from "./errors.js";

export interface MongoOptions {
  uri: string;
  /** Used when the URI names no database. */
  defaultDb: string;
  serverSelectionTimeoutMS?: number;
}

export interface MongoStores {
  readonly secrets: MongoSecretStore;
  readonly idempotency: MongoIdempotencyStore;
  readonly cacheState: MongoCacheStateStore;
  readonly audit: MongoAuditStore;
  readonly taskTokens: MongoTaskTokenStore;
  close(): Promise<void>;
}

/** One client for the stores that live in MongoDB (or FerretDB); creates their indexes. */
export async function connectMongo(options: MongoOptions): Promise<MongoStores> {
  const client = new MongoClient(options.uri, {
    serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 5_000,
    // FerretDB has no retryable writes. A write whose reply is lost answers UNAVAILABLE; the protocol
    // never undoes what may have landed (docs/OPERATIONS.md lists what each lost reply leaves).
    retryWrites: false,
  });
  try {
    await client.connect();
    const db = client.db(dbNameFromUri(options.uri) ?? options.defaultDb);
    const secrets = new MongoSecretStore(db);
    const idempotency = new MongoIdempotencyStore(db);
    const audit = new MongoAuditStore(db);
    const taskTokens = new MongoTaskTokenStore(db);
    await secrets.ensureIndexes();
    await idempotency.ensureIndexes();
    await audit.ensureIndexes();
    await taskTokens.ensureIndexes();
    return { secrets, idempotency, cacheState: new MongoCacheStateStore(db), audit, taskTokens, close: () => client.close() };
  } catch (err) {
    await client.close().catch(() => {});
    throw unavailable(err);
  }
}

function dbNameFromUri(uri: string): string | undefined {
  const path = uri.replace(/^mongodb(\+srv)?:\/\/[^/]*/, "").split("?")[0] ?? "";
  const name = decodeURIComponent(path.replace(/^\//, ""));
  return name || undefined;
}
