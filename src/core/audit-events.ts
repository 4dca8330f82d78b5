import { InvalidArgumentError } from "../errors.js";
import type { AuditEvent, AuditQuery, AuditStore } from "../ports/audit-store.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "./limits.js";
import { decodePageToken, encodePageToken, pageSize, queryDigest } from "./page-token.js";
import { validateName } from "./validation.js";

// ListAuditEvents: the caller's tenant's events, newest first. A caller whose token sees only some
// names gets the events it may see; the others are skipped, which can leave pages short. The store
// is asked at most MAX_STORE_PAGES times a call so a caller who sees little cannot make one call
// scan the whole trail; the next page token then points after the last event scanned, so paging
// still walks everything. (That position may be the time of an event the caller cannot see.)

export interface ListAuditEventsInput {
  pageSize: number;
  pageToken: string;
  name: string;
  method: string;
  code?: number;
  startTime?: Date;
  endTime?: Date;
}

export interface AuditEventsDeps {
  readonly audit: AuditStore;
}

const METHOD_PATTERN = /^[A-Z][A-Za-z]{0,63}$/;
/** gRPC status codes: OK (0) to UNAUTHENTICATED (16). */
const MAX_CODE = 16;
const MAX_STORE_PAGES = 10;

export async function listAuditEvents(
  deps: AuditEventsDeps,
  tenant: string,
  input: ListAuditEventsInput,
  visible?: (names: readonly string[]) => boolean,
): Promise<{ events: AuditEvent[]; nextPageToken: string }> {
  const limit = pageSize(input.pageSize, { default: DEFAULT_PAGE_SIZE, max: MAX_PAGE_SIZE });
  validateFilters(input);
  const digest = queryDigest(["audit", tenant, input.name, input.method, input.code ?? null, input.startTime?.getTime() ?? null, input.endTime?.getTime() ?? null]);
  let before = decodePosition(decodePageToken(input.pageToken, digest));
  const query: Omit<AuditQuery, "before"> = {
    tenant,
    // One extra event tells whether another page exists without a count query.
    limit: limit + 1,
    ...(input.name !== "" ? { name: input.name } : {}),
    ...(input.method !== "" ? { method: input.method } : {}),
    ...(input.code !== undefined ? { code: input.code } : {}),
    ...(input.startTime !== undefined ? { startTime: input.startTime } : {}),
    ...(input.endTime !== undefined ? { endTime: input.endTime } : {}),
  };

  const events: AuditEvent[] = [];
  for (let round = 0; round < MAX_STORE_PAGES; round++) {
    const found = await deps.audit.list({ ...query, ...(before ? { before } : {}) });
    for (const e of found) {
      if (visible && !visible(e.names)) continue;
      events.push(e);
      if (events.length > limit) {
        const page = events.slice(0, limit);
        return { events: page, nextPageToken: encodePageToken(encodePosition(page.at(-1)!), digest) };
      }
    }
    const last = found.at(-1);
    if (found.length < query.limit || !last) return { events, nextPageToken: "" };
    before = { time: last.time, id: last.id };
  }
  return { events, nextPageToken: encodePageToken(encodePosition(before!), digest) };
}

function validateFilters(input: ListAuditEventsInput): void {
  if (input.name !== "") validateName(input.name);
  if (input.method !== "" && !METHOD_PATTERN.test(input.method)) throw new InvalidArgumentError("method", `must match ${METHOD_PATTERN.source}`);
  if (input.code !== undefined && (!Number.isInteger(input.code) || input.code < 0 || input.code > MAX_CODE)) {
    throw new InvalidArgumentError("code", `must be a gRPC status code (0 to ${MAX_CODE})`);
  }
  checkTime("start_time", input.startTime);
  checkTime("end_time", input.endTime);
  if (input.startTime && input.endTime && input.startTime.getTime() >= input.endTime.getTime()) {
    throw new InvalidArgumentError("end_time", "must be after start_time");
  }
}

function checkTime(field: string, time: Date | undefined): void {
  if (time !== undefined && Number.isNaN(time.getTime())) throw new InvalidArgumentError(field, "must be a valid time");
}

type Position = NonNullable<AuditQuery["before"]>;

/** The cursor: the listing position (time in ms, event id) of the last event of the previous page. */
function encodePosition(p: Position): string {
  return `${p.time.getTime()}:${p.id}`;
}

function decodePosition(after: string | undefined): Position | undefined {
  if (after === undefined) return undefined;
  const match = /^(-?\d{1,16}):(.+)$/s.exec(after);
  const time = new Date(Number(match?.[1]));
  if (!match || Number.isNaN(time.getTime())) throw new InvalidArgumentError("page_token", "is not a valid page token");
  return { time, id: match[2]! };
}
