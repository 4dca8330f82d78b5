import type { CacheState, CacheStateStore, StoredCacheKey } from "../../ports/cache-state-store.js";
import { checkBytes, checkDate, checkString } from "../store-arguments.js";

export class MemoryCacheStateStore implements CacheStateStore {
  private state: CacheState = { epoch: "", instance: "" };
  private readonly keys = new Map<string, StoredCacheKey>();

  async readState(): Promise<CacheState> {
    return this.state;
  }

  async writeState(state: { readonly epoch: string; readonly instance?: string }): Promise<void> {
    checkString("epoch", state.epoch);
    if (state.instance !== undefined) checkString("instance", state.instance);
    this.state = { epoch: state.epoch, instance: state.instance ?? this.state.instance };
  }

  async findCacheKey(id: string): Promise<StoredCacheKey | undefined> {
    checkString("id", id);
    const key = this.keys.get(id);
    return key && { ...key, wrapped: Uint8Array.from(key.wrapped) };
  }

  async insertCacheKey(key: StoredCacheKey): Promise<boolean> {
    checkString("id", key.id);
    checkString("keyId", key.keyId);
    checkDate("createTime", key.createTime);
    checkBytes("wrapped", key.wrapped);
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
