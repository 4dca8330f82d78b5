import type { IdempotencyRecord, IdempotencyStore } from "../../ports/idempotency-store.js";
import { checkDate, checkIdempotencyRecord, checkInteger, checkString } from "../store-arguments.js";

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<string, IdempotencyRecord>();

  async begin(record: IdempotencyRecord): Promise<boolean> {
    checkIdempotencyRecord(record);
    if (this.records.has(record.key)) return false;
    this.records.set(record.key, { ...record });
    return true;
  }

  async find(key: string): Promise<IdempotencyRecord | undefined> {
    checkString("key", key);
    const found = this.records.get(key);
    return found && { ...found };
  }

  async complete(key: string, writeId: string, response: string): Promise<void> {
    checkString("key", key);
    checkString("writeId", writeId);
    checkString("response", response);
    const found = this.records.get(key);
    if (found?.writeId === writeId) this.records.set(key, { ...found, response });
  }

  async abandon(key: string, writeId: string): Promise<void> {
    checkString("key", key);
    checkString("writeId", writeId);
    if (this.records.get(key)?.writeId === writeId) this.records.delete(key);
  }

  async removeOlderThan(time: Date, limit: number): Promise<number> {
    checkDate("time", time);
    checkInteger("limit", limit);
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
