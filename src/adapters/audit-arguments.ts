import { InvalidArgumentError } from "../errors.js";
import type { AuditEvent, AuditQuery } from "../ports/audit-store.js";
import { checkDate, checkInteger, checkString, checkStrings } from "./store-arguments.js";

// The audit stores' argument checks (see store-arguments.ts for why both stores run them).
// Every field of an event is checked, not only the filtered ones: a stored event is evidence,
// so a field of the wrong type is refused rather than kept.

export function checkAuditEvents(events: readonly AuditEvent[]): void {
  if (!Array.isArray(events)) throw new InvalidArgumentError("events", "must be a list of events");
  for (const event of events) checkAuditEvent(event);
}

export function checkAuditEvent(e: AuditEvent): void {
  if (typeof e !== "object" || e === null) throw new InvalidArgumentError("event", "must be an event");
  checkString("event.id", e.id);
  checkDate("event.time", e.time);
  checkString("event.requestId", e.requestId);
  checkString("event.principal", e.principal);
  checkString("event.tenant", e.tenant);
  checkBoolean("event.delegated", e.delegated);
  checkString("event.tokenId", e.tokenId);
  checkString("event.tokenLabel", e.tokenLabel);
  checkString("event.method", e.method);
  checkStrings("event.names", e.names);
  checkIntegers("event.versions", e.versions);
  checkInteger("event.code", e.code);
  checkString("event.peerAddress", e.peerAddress);
  checkString("event.userAgent", e.userAgent);
  checkString("event.mtlsSubject", e.mtlsSubject);
  if (e.httpCall !== undefined) {
    checkString("event.httpCall.method", e.httpCall.method);
    checkString("event.httpCall.host", e.httpCall.host);
    checkInteger("event.httpCall.status", e.httpCall.status);
    checkInteger("event.httpCall.durationMs", e.httpCall.durationMs);
    checkInteger("event.httpCall.requestBytes", e.httpCall.requestBytes);
    checkInteger("event.httpCall.responseBytes", e.httpCall.responseBytes);
  }
}

export function checkAuditQuery(q: AuditQuery): void {
  if (typeof q !== "object" || q === null) throw new InvalidArgumentError("query", "must be a query");
  checkString("tenant", q.tenant);
  // Events of unauthenticated calls have tenant "": no query may reach them.
  if (q.tenant === "") throw new InvalidArgumentError("tenant", "must not be empty");
  if (q.name !== undefined) checkString("name", q.name);
  if (q.method !== undefined) checkString("method", q.method);
  if (q.code !== undefined) checkInteger("code", q.code);
  if (q.startTime !== undefined) checkDate("startTime", q.startTime);
  if (q.endTime !== undefined) checkDate("endTime", q.endTime);
  if (q.before !== undefined) {
    if (typeof q.before !== "object" || q.before === null) throw new InvalidArgumentError("before", "must be a position");
    checkDate("before.time", q.before.time);
    checkString("before.id", q.before.id);
  }
  checkLimit(q.limit);
}

/** A limit of 0 selects nothing (MongoDB would read it as "no limit"). */
export function checkLimit(limit: number): void {
  checkInteger("limit", limit);
  if (limit < 0) throw new InvalidArgumentError("limit", "must not be negative");
}

function checkBoolean(argument: string, value: unknown): asserts value is boolean {
  if (typeof value !== "boolean") throw new InvalidArgumentError(argument, "must be a boolean");
}

function checkIntegers(argument: string, value: unknown): asserts value is readonly number[] {
  if (!Array.isArray(value)) throw new InvalidArgumentError(argument, "must be a list of integers");
  for (const item of value) checkInteger(argument, item);
}
