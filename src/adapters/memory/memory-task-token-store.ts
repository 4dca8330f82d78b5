import type { TaskTokenRecord, TaskTokenStore } from "../../ports/task-token-store.js";
import { checkDate, checkInteger, checkString } from "../store-arguments.js";
import { checkTaskTokenRecord } from "../task-token-arguments.js";

export class MemoryTaskTokenStore implements TaskTokenStore {
  private readonly records = new Map<string, TaskTokenRecord>();

  async insert(record: TaskTokenRecord): Promise<void> {
    checkTaskTokenRecord(record);
    if (this.records.has(record.id)) throw new Error("task token id already recorded");
    this.records.set(record.id, copy(record));
  }

  async find(id: string): Promise<TaskTokenRecord | undefined> {
    checkString("id", id);
    const found = this.records.get(id);
    return found && copy(found);
  }

  async revoke(tenant: string, id: string, time: Date): Promise<boolean> {
    checkString("tenant", tenant);
    checkString("id", id);
    checkDate("time", time);
    const found = this.records.get(id);
    if (found?.tenant !== tenant) return false;
    if (found.revokeTime === undefined) this.records.set(id, { ...found, revokeTime: time });
    return true;
  }

  async removeExpiredBefore(time: Date, limit: number): Promise<number> {
    checkDate("time", time);
    checkInteger("limit", limit);
    let removed = 0;
    for (const [id, record] of this.records) {
      if (removed >= limit) break;
      if (record.expireTime < time) {
        this.records.delete(id);
        removed++;
      }
    }
    return removed;
  }
}

/** Callers get and give copies: a record changed after insert or find must not change what is stored. */
function copy(r: TaskTokenRecord): TaskTokenRecord {
  return {
    ...r,
    scopes: [...r.scopes],
    secrets: [...r.secrets],
    createTime: new Date(r.createTime),
    expireTime: new Date(r.expireTime),
    ...(r.revokeTime !== undefined ? { revokeTime: new Date(r.revokeTime) } : {}),
  };
}
