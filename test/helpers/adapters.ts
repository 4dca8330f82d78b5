import { randomBytes } from "node:crypto";
import { AwsKeyProvider } from "../../src/adapters/aws-kms/aws-key-provider.js";
import { LocalKeyProvider } from "../../src/adapters/local-kms/local-key-provider.js";
import { MemorySecretStore } from "../../src/adapters/memory/memory-secret-store.js";
import { MemoryTaskTokenStore } from "../../src/adapters/memory/memory-task-token-store.js";
import { MemoryAuditStore } from "../../src/adapters/memory/memory-audit-store.js";
import { MemoryCacheStateStore } from "../../src/adapters/memory/memory-cache-state-store.js";
import { MemoryIdempotencyStore } from "../../src/adapters/memory/memory-idempotency-store.js";
import { connectMongo } from "../../src/adapters/mongodb/connect.js";
import type { AuditStore } from "../../src/ports/audit-store.js";
import type { CacheStateStore } from "../../src/ports/cache-state-store.js";
import type { IdempotencyStore } from "../../src/ports/idempotency-store.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import type { SecretStore } from "../../src/ports/secret-store.js";
import type { TaskTokenStore } from "../../src/ports/task-token-store.js";
import { dropDatabase, freshDbName, kmsCredentials, mongoUriFor, services } from "./services.js";

export interface StoreFixture {
  readonly store: SecretStore;
  readonly idempotency: IdempotencyStore;
  readonly cacheState: CacheStateStore;
  readonly audit: AuditStore;
  readonly taskTokens: TaskTokenStore;
  /** Set for MongoDB: the database the store writes to. */
  readonly db?: string;
  /** Closes the store and drops its data. */
  dispose(): Promise<void>;
}

export type StoreKind = "memory" | "mongodb";
export type KeysKind = "local" | "aws-kms";

export async function openStore(kind: StoreKind, label: string): Promise<StoreFixture> {
  if (kind === "memory") {
    const store = new MemorySecretStore();
    return {
      store,
      idempotency: new MemoryIdempotencyStore(),
      cacheState: new MemoryCacheStateStore(),
      audit: new MemoryAuditStore(),
      taskTokens: new MemoryTaskTokenStore(),
      dispose: () => store.close(),
    };
  }
  const db = freshDbName(label);
  const mongo = await connectMongo({ uri: mongoUriFor(db), defaultDb: "unused" });
  return {
    store: mongo.secrets,
    idempotency: mongo.idempotency,
    cacheState: mongo.cacheState,
    audit: mongo.audit,
    taskTokens: mongo.taskTokens,
    db,
    async dispose() {
      await mongo.close();
      await dropDatabase(db);
    },
  };
}

export function openKeys(kind: KeysKind): KeyProvider {
  if (kind === "local") return new LocalKeyProvider(new Map([["k1", randomBytes(32)]]), "k1");
  return new AwsKeyProvider({
    keyId: services.kmsKeyId,
    region: services.region,
    endpoint: services.kmsEndpoint,
    credentials: kmsCredentials(),
  });
}
