import { Binary, type Collection, type Db } from "mongodb";
import type { CacheState, CacheStateStore, StoredCacheKey } from "../../ports/cache-state-store.js";
import { checkCacheStateWrite, checkDate, checkStoredCacheKey, checkString } from "../store-arguments.js";
import { guard, insertUnique } from "./errors.js";

interface StateDoc {
  _id: string;
  epoch: string;
  instance: string;
}

interface CacheKeyDoc {
  _id: string;
  kid: string;
  wk: Binary;
  createTime: Date;
}

const STATE_ID = "cache";

/** The cache epoch (one document) and the wrapped cache keys (one document each). */
export class MongoCacheStateStore implements CacheStateStore {
  private readonly state: Collection<StateDoc>;
  private readonly keys: Collection<CacheKeyDoc>;

  constructor(db: Db) {
    this.state = db.collection("cache_state");
    this.keys = db.collection("cache_keys");
  }

  async readState(): Promise<CacheState> {
    const d = await guard(() => this.state.findOne({ _id: STATE_ID }));
    return { epoch: d?.epoch ?? "", instance: d?.instance ?? "" };
  }

  async writeState(state: { readonly epoch: string; readonly instance?: string }): Promise<void> {
    checkCacheStateWrite(state);
    const set = { epoch: state.epoch, ...(state.instance !== undefined ? { instance: state.instance } : {}) };
    await guard(() => this.state.updateOne({ _id: STATE_ID }, { $set: set }, { upsert: true }));
  }

  async findCacheKey(id: string): Promise<StoredCacheKey | undefined> {
    checkString("id", id);
    const d = await guard(() => this.keys.findOne({ _id: id }));
    return d ? { id: d._id, keyId: d.kid, wrapped: d.wk.buffer, createTime: d.createTime } : undefined;
  }

  async insertCacheKey(key: StoredCacheKey): Promise<boolean> {
    checkStoredCacheKey(key);
    return insertUnique(() => this.keys.insertOne({ _id: key.id, kid: key.keyId, wk: new Binary(key.wrapped), createTime: key.createTime }));
  }

  async removeCacheKeysBefore(time: Date): Promise<number> {
    checkDate("time", time);
    const res = await guard(() => this.keys.deleteMany({ createTime: { $lt: time } }));
    return res.deletedCount;
  }
}
