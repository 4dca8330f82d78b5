import type { IdempotencyRecord, IdempotencyStore } from "../../ports/idempotency-store.js";

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<string, IdempotencyRecord>();

  async begin(record: IdempotencyRecord): Promise<boolean> {
    if (this.records.has(record.key)) return false;
    this.records.set(record.key, { ...record });
    return true;
  }

  async find(key: string): Promise<IdempotencyRecord | undefined> {
    const found = this.records.get(key);
    return found && { ...found };
  }

  async complete(key: string, writeId: string, response: string): Promise<void> {
    const found = this.records.get(key);
    if (found?.writeId === writeId) this.records.set(key, { ...found, response });
  }

  async abandon(key: string, writeId: string): Promise<void> {
    if (this.records.get(key)?.writeId === writeId) this.records.delete(key);
  }

  async removeOlderThan(time: Date, limit: number): Promise<number> {
    let removed = 0;
    for (const [key, record] of this.records) {
      if (removed >= limit) break;
      if (record.createTime < time) {
        this.records.delete(key);
        removed++;
      }
    }
    return removed;
  }
}
