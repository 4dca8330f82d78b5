import type { Collection, Db } from "mongodb";
import type { TaskTokenRecord, TaskTokenStore } from "../../ports/task-token-store.js";
import { checkDate, checkInteger, checkString } from "../store-arguments.js";
import { checkTaskTokenRecord } from "../task-token-arguments.js";
import { guard } from "./errors.js";

interface TaskTokenDoc {
  /** The token's jti. */
  _id: string;
  tenant: string;
  subject: string;
  label: string;
  scopes: string[];
  secrets: string[];
  createTime: Date;
  expireTime: Date;
  /** null until revoked. */
  revokeTime: Date | null;
}

/** Minted task tokens, one document each; expired ones are removed by the sweeper (no TTL index). */
export class MongoTaskTokenStore implements TaskTokenStore {
  private readonly tokens: Collection<TaskTokenDoc>;

  constructor(db: Db) {
    this.tokens = db.collection("task_tokens");
  }

  async ensureIndexes(): Promise<void> {
    await guard(() => this.tokens.createIndex({ expireTime: 1 }, { name: "expire_time" }));
  }

  async insert(r: TaskTokenRecord): Promise<void> {
    checkTaskTokenRecord(r);
    // Ids are random: a duplicate key is a bug, and the driver's error says so.
    await guard(() =>
      this.tokens.insertOne({
        _id: r.id,
        tenant: r.tenant,
        subject: r.subject,
        label: r.label,
        scopes: [...r.scopes],
        secrets: [...r.secrets],
        createTime: r.createTime,
        expireTime: r.expireTime,
        revokeTime: r.revokeTime ?? null,
      }),
    );
  }

  async find(id: string): Promise<TaskTokenRecord | undefined> {
    checkString("id", id);
    const d = await guard(() => this.tokens.findOne({ _id: id }));
    if (!d) return undefined;
    return {
      id: d._id,
      tenant: d.tenant,
      subject: d.subject,
      label: d.label,
      scopes: d.scopes,
      secrets: d.secrets,
      createTime: d.createTime,
      expireTime: d.expireTime,
      ...(d.revokeTime ? { revokeTime: d.revokeTime } : {}),
    };
  }

  async revoke(tenant: string, id: string, time: Date): Promise<boolean> {
    checkString("tenant", tenant);
    checkString("id", id);
    checkDate("time", time);
    // Not atomic on FerretDB under concurrency; two racing revocations may both set a time, and
    // either is a time the token was revoked at, so the result is the same.
    const res = await guard(() => this.tokens.updateOne({ _id: id, tenant, revokeTime: null }, { $set: { revokeTime: time } }));
    if (res.matchedCount > 0) return true;
    // Already revoked (the earlier time stays), or not this tenant's token, or none.
    const found = await guard(() => this.tokens.findOne({ _id: id, tenant }, { projection: { _id: 1 } }));
    return found !== null;
  }

  async removeExpiredBefore(time: Date, limit: number): Promise<number> {
    checkDate("time", time);
    checkInteger("limit", limit);
    // The driver reads a limit of 0 as "no limit" and a negative one as a single batch.
    if (limit <= 0) return 0;
    const old = await guard(() => this.tokens.find({ expireTime: { $lt: time } }, { projection: { _id: 1 } }).limit(limit).toArray());
    if (old.length === 0) return 0;
    const res = await guard(() => this.tokens.deleteMany({ _id: { $in: old.map((d) => d._id) }, expireTime: { $lt: time } }));
    return res.deletedCount;
  }
}
