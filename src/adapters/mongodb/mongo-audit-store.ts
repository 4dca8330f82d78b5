import { MongoBulkWriteError, type Collection, type Db, type Filter } from "mongodb";
import type { AuditEvent, AuditHttpCall, AuditQuery, AuditStore } from "../../ports/audit-store.js";
import { checkAuditEvents, checkAuditQuery, checkLimit } from "../audit-arguments.js";
import { checkDate } from "../store-arguments.js";
import { guard } from "./errors.js";

/** One audit event; `_id` is the event id. */
interface AuditDoc {
  _id: string;
  time: Date;
  requestId: string;
  principal: string;
  tenant: string;
  delegated: boolean;
  tokenId: string;
  tokenLabel: string;
  method: string;
  names: string[];
  versions: number[];
  code: number;
  peerAddress: string;
  userAgent: string;
  mtlsSubject: string;
  httpCall?: AuditHttpCall;
}

const DUPLICATE_KEY = 11000;

/** The audit trail in `audit_events`. Plain indexes only: FerretDB has no partial or TTL indexes (the sweeper removes old events). */
export class MongoAuditStore implements AuditStore {
  private readonly events: Collection<AuditDoc>;

  constructor(db: Db) {
    this.events = db.collection("audit_events");
  }

  async ensureIndexes(): Promise<void> {
    await guard(() => this.events.createIndex({ tenant: 1, time: -1, _id: -1 }, { name: "tenant_time_id" }));
    await guard(() => this.events.createIndex({ time: 1 }, { name: "time" }));
  }

  async append(events: readonly AuditEvent[]): Promise<void> {
    checkAuditEvents(events);
    if (events.length === 0) return;
    await guard(async () => {
      try {
        await this.events.insertMany(events.map(toDoc), { ordered: false });
      } catch (err) {
        // A retried batch finds some of its events stored already; those are written, the rest were inserted.
        if (!onlyDuplicates(err)) throw err;
      }
    });
  }

  async list(q: AuditQuery): Promise<AuditEvent[]> {
    checkAuditQuery(q);
    if (q.limit === 0) return [];
    const docs = await guard(() => this.events.find(filterOf(q)).sort({ time: -1, _id: -1 }).limit(q.limit).toArray());
    return docs.map(fromDoc);
  }

  async removeOlderThan(time: Date, limit: number): Promise<number> {
    checkDate("time", time);
    checkLimit(limit);
    if (limit === 0) return 0;
    const old = await guard(() => this.events.find({ time: { $lt: time } }, { projection: { _id: 1 } }).sort({ time: 1 }).limit(limit).toArray());
    if (old.length === 0) return 0;
    const res = await guard(() => this.events.deleteMany({ _id: { $in: old.map((d) => d._id) }, time: { $lt: time } }));
    return res.deletedCount;
  }
}

function filterOf(q: AuditQuery): Filter<AuditDoc> {
  const filter: Filter<AuditDoc> = { tenant: q.tenant };
  if (q.name !== undefined) filter.names = q.name;
  if (q.method !== undefined) filter.method = q.method;
  if (q.code !== undefined) filter.code = q.code;
  if (q.startTime !== undefined || q.endTime !== undefined) {
    filter.time = { ...(q.startTime !== undefined ? { $gte: q.startTime } : {}), ...(q.endTime !== undefined ? { $lt: q.endTime } : {}) };
  }
  if (q.before !== undefined) {
    const { time, id } = q.before;
    filter.$or = [{ time: { $lt: time } }, { time, _id: { $lt: id } }];
  }
  return filter;
}

/** True when every refused document was refused for an id already stored, and nothing else went wrong. */
function onlyDuplicates(err: unknown): boolean {
  if (!(err instanceof MongoBulkWriteError) || err.result.getWriteConcernError()) return false;
  const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
  return errors.length > 0 && errors.every((e) => e.code === DUPLICATE_KEY);
}

function toDoc(e: AuditEvent): AuditDoc {
  return {
    _id: e.id,
    time: e.time,
    requestId: e.requestId,
    principal: e.principal,
    tenant: e.tenant,
    delegated: e.delegated,
    tokenId: e.tokenId,
    tokenLabel: e.tokenLabel,
    method: e.method,
    names: [...e.names],
    versions: [...e.versions],
    code: e.code,
    peerAddress: e.peerAddress,
    userAgent: e.userAgent,
    mtlsSubject: e.mtlsSubject,
    ...(e.httpCall ? { httpCall: { ...e.httpCall } } : {}),
  };
}

function fromDoc(d: AuditDoc): AuditEvent {
  return {
    id: d._id,
    time: d.time,
    requestId: d.requestId,
    principal: d.principal,
    tenant: d.tenant,
    delegated: d.delegated,
    tokenId: d.tokenId,
    tokenLabel: d.tokenLabel,
    method: d.method,
    names: d.names,
    versions: d.versions,
    code: d.code,
    peerAddress: d.peerAddress,
    userAgent: d.userAgent,
    mtlsSubject: d.mtlsSubject,
    ...(d.httpCall ? { httpCall: fromHttpCallDoc(d.httpCall) } : {}),
  };
}

function fromHttpCallDoc(d: AuditHttpCall): AuditHttpCall {
  return {
    method: String(d.method),
    host: String(d.host),
    status: Number(d.status),
    durationMs: Number(d.durationMs),
    requestBytes: Number(d.requestBytes),
    responseBytes: Number(d.responseBytes),
  };
}
