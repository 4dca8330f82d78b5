import { durationFromMs, timestampDate, timestampFromDate, type Duration } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { SecretsService as SecretsServiceDesc } from "../../gen/secrets/v1/secrets_pb.js";
import { nameMatcher } from "../ports/name-globs.js";
import type { Identity } from "../auth/identity.js";
import type { TaskTokens } from "../auth/task-token-service.js";
import type { ListAuditEventsInput } from "../core/audit-events.js";
import type { Principal } from "../core/principal.js";
import type { RewrapRequest, RewrapResult } from "../core/rewrap.js";
import type { SweepResult } from "../core/sweeper.js";
import { FailedPreconditionError, UnauthenticatedError } from "../errors.js";
import type { AuditEvent } from "../ports/audit-store.js";
import { identityKey, principalKey } from "./context.js";

// Handlers of the access RPCs: task tokens, the audit listing and maintenance. Proto <-> domain only.

export interface AccessHandlerDeps {
  /** Absent: task tokens are off. */
  readonly taskTokens?: TaskTokens;
  /** Absent: the audit trail is off. */
  readonly auditEvents?: (tenant: string, input: ListAuditEventsInput, visible?: (names: readonly string[]) => boolean) => Promise<{ events: AuditEvent[]; nextPageToken: string }>;
  readonly maintenance: () => Promise<SweepResult>;
  readonly rewrap: (principal: Principal, req: RewrapRequest) => Promise<RewrapResult>;
}

/** The longest one RewrapKeys call works before it answers with a page token. */
const REWRAP_CALL_MS = 60_000;

type AccessMethods = "createTaskToken" | "revokeTaskToken" | "listAuditEvents" | "runMaintenance" | "rewrapKeys";

export function accessHandlers(deps: AccessHandlerDeps): Pick<ServiceImpl<typeof SecretsServiceDesc>, AccessMethods> {
  const taskTokens = () => {
    if (!deps.taskTokens) throw new FailedPreconditionError("task tokens are not configured on this server");
    return deps.taskTokens;
  };
  return {
    async createTaskToken(req, ctx) {
      const { identity, principal } = caller(ctx);
      const minted = await taskTokens().mint(identity, principal.tenant, {
        secrets: req.secrets,
        scopes: req.scopes,
        label: req.label,
        ...(req.ttl ? { ttlMs: durationMs(req.ttl) } : {}),
      });
      return { token: minted.token, tokenId: minted.tokenId, expireTime: timestampFromDate(minted.expireTime) };
    },

    async revokeTaskToken(req, ctx) {
      await taskTokens().revoke(caller(ctx).principal.tenant, req.tokenId);
      return {};
    },

    async listAuditEvents(req, ctx) {
      if (!deps.auditEvents) throw new FailedPreconditionError("the audit trail is off on this server (AUDIT=off)");
      const { identity, principal } = caller(ctx);
      const matches = identity.secrets ? nameMatcher(identity.secrets) : undefined;
      const page = await deps.auditEvents(
        principal.tenant,
        {
          pageSize: req.pageSize,
          pageToken: req.pageToken,
          name: req.name,
          method: req.method,
          ...(req.code !== undefined ? { code: req.code } : {}),
          ...(req.startTime ? { startTime: timestampDate(req.startTime) } : {}),
          ...(req.endTime ? { endTime: timestampDate(req.endTime) } : {}),
        },
        matches ? (names) => names.every(matches) : undefined,
      );
      return { events: page.events.map(toAuditEvent), nextPageToken: page.nextPageToken };
    },

    async runMaintenance() {
      const r = await deps.maintenance();
      return {
        purgedSecrets: r.purgedSecrets,
        completedWrites: r.completedWrites,
        removedRequestIds: r.removedRequestIds,
        removedTaskTokens: r.removedTaskTokens,
        removedAuditEvents: r.removedAuditEvents,
      };
    },

    async rewrapKeys(req, ctx) {
      const remaining = ctx.timeoutMs();
      const budget = Math.min(REWRAP_CALL_MS, remaining === undefined ? Infinity : remaining * 0.8);
      const r = await deps.rewrap(caller(ctx).principal, {
        toKey: req.toKey,
        pageToken: req.pageToken,
        pageSize: req.pageSize,
        rateLimit: req.rateLimit,
        stopAt: performance.now() + budget,
      });
      return {
        secrets: r.secrets,
        rewrapped: r.rewrapped,
        already: r.already,
        skipped: r.skipped,
        nextPageToken: r.nextPageToken,
        cacheKeyRotated: r.cacheKeyRotated,
        keyId: r.keyId,
      };
    },
  };
}

function caller(ctx: HandlerContext): { identity: Identity; principal: Principal } {
  const identity = ctx.values.get(identityKey);
  const principal = ctx.values.get(principalKey);
  if (!identity || !principal) throw new UnauthenticatedError("not authenticated");
  return { identity, principal };
}

function durationMs(d: Duration): number {
  return Number(d.seconds) * 1000 + Math.ceil(d.nanos / 1e6);
}

function toAuditEvent(e: AuditEvent) {
  return {
    eventId: e.id,
    eventTime: timestampFromDate(e.time),
    requestId: e.requestId,
    principal: e.principal,
    developerId: e.tenant,
    delegated: e.delegated,
    tokenId: e.tokenId,
    tokenLabel: e.tokenLabel,
    method: e.method,
    names: [...e.names],
    versions: e.versions.map((v) => BigInt(v)),
    code: e.code,
    peerAddress: e.peerAddress,
    userAgent: e.userAgent,
    mtlsSubject: e.mtlsSubject,
    ...(e.httpCall
      ? {
          httpCall: {
            method: e.httpCall.method,
            host: e.httpCall.host,
            status: e.httpCall.status,
            duration: durationFromMs(e.httpCall.durationMs),
            requestBytes: BigInt(e.httpCall.requestBytes),
            responseBytes: BigInt(e.httpCall.responseBytes),
          },
        }
      : {}),
  };
}
