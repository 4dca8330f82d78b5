import type { Collection, Db } from "mongodb";
import type { IdempotencyRecord, IdempotencyStore } from "../../ports/idempotency-store.js";
import type { IdempotencyDoc } from "./documents.js";
import { guard, insertUnique } from "./errors.js";
import { checkDate, checkIdempotencyRecord, checkInteger, checkString } from "../store-arguments.js";

/** request_id records in their own collection; expired ones are removed by the sweeper (no TTL index). */
export class MongoIdempotencyStore implements IdempotencyStore {
  private readonly records: Collection<IdempotencyDoc>;

  constructor(db: Db) {
    this.records = db.collection("idempotency");
  }

  async ensureIndexes(): Promise<void> {
    await guard(() => this.records.createIndex({ createTime: 1 }, { name: "create_time" }));
  }

  async begin(r: IdempotencyRecord): Promise<boolean> {
    checkIdempotencyRecord(r);
    return insertUnique(() =>
      this.records.insertOne({ _id: r.key, writeId: r.writeId, fingerprint: r.fingerprint, createTime: r.createTime, response: r.response ?? null }),
    );
  }

  async find(key: string): Promise<IdempotencyRecord | undefined> {
    checkString("key", key);
    const d = await guard(() => this.records.findOne({ _id: key }));
    if (!d) return undefined;
    return { key: d._id, writeId: d.writeId, fingerprint: d.fingerprint, createTime: d.createTime, ...(d.response ? { response: d.response } : {}) };
  }

  async complete(key: string, writeId: string, response: string): Promise<void> {
    checkString("key", key);
    checkString("writeId", writeId);
    checkString("response", response);
    await guard(() => this.records.updateOne({ _id: key, writeId }, { $set: { response } }));
  }

  async abandon(key: string, writeId: string): Promise<void> {
    checkString("key", key);
    checkString("writeId", writeId);
    await guard(() => this.records.deleteOne({ _id: key, writeId }));
  }

  async removeOlderThan(time: Date, limit: number): Promise<number> {
    checkDate("time", time);
    checkInteger("limit", limit);
    const old = await guard(() => this.records.find({ createTime: { $lt: time } }, { projection: { _id: 1 } }).limit(limit).toArray());
    if (old.length === 0) return 0;
    const res = await guard(() => this.records.deleteMany({ _id: { $in: old.map((d) => d._id) }, createTime: { $lt: time } }));
    return res.deletedCount;
  }
}
