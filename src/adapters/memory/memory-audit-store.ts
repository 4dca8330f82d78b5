import type { AuditEvent, AuditQuery, AuditStore } from "../../ports/audit-store.js";
import { checkAuditEvents, checkAuditQuery, checkLimit } from "../audit-arguments.js";
import { checkDate } from "../store-arguments.js";

/** The audit trail in memory: the twin of MongoAuditStore (same order, filters and refusals). */
export class MemoryAuditStore implements AuditStore {
  private readonly events = new Map<string, AuditEvent>();

  async append(events: readonly AuditEvent[]): Promise<void> {
    checkAuditEvents(events);
    // The first event stored under an id stays, as with a duplicate _id in MongoDB.
    for (const e of events) if (!this.events.has(e.id)) this.events.set(e.id, copy(e));
  }

  async list(q: AuditQuery): Promise<AuditEvent[]> {
    checkAuditQuery(q);
    if (q.limit === 0) return [];
    const found = [...this.events.values()].filter((e) => matches(e, q));
    return found.sort(newestFirst).slice(0, q.limit).map(copy);
  }

  async removeOlderThan(time: Date, limit: number): Promise<number> {
    checkDate("time", time);
    checkLimit(limit);
    const old = [...this.events.values()].filter((e) => e.time < time);
    // Oldest first, as the MongoDB store walks its time index.
    old.sort((a, b) => a.time.getTime() - b.time.getTime());
    const removed = old.slice(0, limit);
    for (const e of removed) this.events.delete(e.id);
    return removed.length;
  }
}

function matches(e: AuditEvent, q: AuditQuery): boolean {
  const t = e.time.getTime();
  if (e.tenant !== q.tenant) return false;
  if (q.name !== undefined && !e.names.includes(q.name)) return false;
  if (q.method !== undefined && e.method !== q.method) return false;
  if (q.code !== undefined && e.code !== q.code) return false;
  if (q.startTime !== undefined && t < q.startTime.getTime()) return false;
  if (q.endTime !== undefined && t >= q.endTime.getTime()) return false;
  if (q.before !== undefined && newestFirst(e, q.before) <= 0) return false;
  return true;
}

/** (time, id) descending. Ids are compared as JavaScript strings; generated ids are ASCII, where that is MongoDB's byte order. */
function newestFirst(a: Pick<AuditEvent, "time" | "id">, b: Pick<AuditEvent, "time" | "id">): number {
  const byTime = b.time.getTime() - a.time.getTime();
  if (byTime !== 0) return byTime;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function copy(e: AuditEvent): AuditEvent {
  return { ...e, time: new Date(e.time), names: [...e.names], versions: [...e.versions] };
}
