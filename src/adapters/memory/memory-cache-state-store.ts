import type { CacheState, CacheStateStore, StoredCacheKey } from "../../ports/cache-state-store.js";
import { checkCacheStateWrite, checkDate, checkStoredCacheKey, checkString } from "../store-arguments.js";

export class MemoryCacheStateStore implements CacheStateStore {
  private state: CacheState = { epoch: "", instance: "" };
  private readonly keys = new Map<string, StoredCacheKey>();

  async readState(): Promise<CacheState> {
    return this.state;
  }

  async writeState(state: { readonly epoch: string; readonly instance?: string }): Promise<void> {
    checkCacheStateWrite(state);
    this.state = { epoch: state.epoch, instance: state.instance ?? this.state.instance };
  }

  async findCacheKey(id: string): Promise<StoredCacheKey | undefined> {
    checkString("id", id);
    const key = this.keys.get(id);
    return key && { ...key, wrapped: Uint8Array.from(key.wrapped) };
  }

  async insertCacheKey(key: StoredCacheKey): Promise<boolean> {
    checkStoredCacheKey(key);
    if (this.keys.has(key.id)) return false;
    this.keys.set(key.id, { ...key, wrapped: Uint8Array.from(key.wrapped) });
    return true;
  }

  async removeCacheKeysBefore(time: Date): Promise<number> {
    checkDate("time", time);
    let removed = 0;
    for (const [id, key] of this.keys) {
      if (key.createTime < time) {
        this.keys.delete(id);
        removed++;
      }
    }
    return removed;
  }
}
