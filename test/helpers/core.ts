import { randomBytes } from "node:crypto";
import { createSecretsService, type SecretsService } from "../../src/core/secrets-service.js";
import type { Principal } from "../../src/core/principal.js";
import type { Clock } from "../../src/ports/clock.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import type { SecretStore } from "../../src/ports/secret-store.js";
import type { IdempotencyStore } from "../../src/ports/idempotency-store.js";
import { MemoryIdempotencyStore } from "../../src/adapters/memory/memory-idempotency-store.js";

/** A clock tests can move forward (lease expiry) without waiting. */
export class ManualClock implements Clock {
  private offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export function coreOver(
  store: SecretStore,
  keys: KeyProvider,
  clock: Clock = new ManualClock(),
  pendingLeaseMs = 30_000,
  idempotency: IdempotencyStore = new MemoryIdempotencyStore(),
): SecretsService {
  return createSecretsService({ store, idempotency, keys, clock, pendingLeaseMs });
}

export const principal = (tenant: string, subject = `${tenant}-user`): Principal => ({ tenant, subject });

export const uniqueName = (prefix = "s") => `${prefix}_${randomBytes(5).toString("hex")}`;

export const createInput = (name: string, value: string) => ({ name, value, description: "", metadata: {} });

export const valueUpdate = (name: string, value: string) => ({
  name,
  value,
  updateMask: [],
  description: "",
  metadata: {},
  etag: "",
});
