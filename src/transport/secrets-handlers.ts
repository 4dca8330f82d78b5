import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter, HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  SecretsService as SecretsServiceDesc,
  VersionState,
  type SecretSchema,
  type SecretVersionSchema,
} from "../../gen/secrets/v1/secrets_pb.js";
import type { Principal } from "../core/principal.js";
import type { SecretsService, SecretValue } from "../core/secrets-service.js";
import { InvalidArgumentError, UnauthenticatedError } from "../errors.js";
import type { SecretRecord, VersionRecord, VersionState as DomainVersionState } from "../ports/secret-store.js";
import { REDACT_TEXT_MAX_BYTES } from "../core/redaction.js";
import { accessHandlers, type AccessHandlerDeps } from "./access-handlers.js";
import { agentHandlers, type AgentHandlerDeps } from "./agent-handlers.js";
import { principalKey } from "./context.js";
import { proxyHandlers } from "./proxy-handlers.js";
import type { Proxy } from "../core/proxy-request.js";
import { grpcCodeOf } from "./errors.js";

// Handlers only map proto <-> domain; rules live in core/.

/** RedactText takes up to 4 MiB of text: its requests may be this large; every other RPC's are MAX_REQUEST_BYTES. */
export const REDACT_REQUEST_MAX_BYTES = REDACT_TEXT_MAX_BYTES + 64 * 1024;
export const REDACT_TEXT_PATH = `/${SecretsServiceDesc.typeName}/${SecretsServiceDesc.method.redactText.name}`;

export function secretsRoutes(service: SecretsService, access: AccessHandlerDeps, agent: AgentHandlerDeps, proxy?: Proxy): (router: ConnectRouter) => void {
  return (router) => {
    const handlers = secretsHandlers(service, access, agent, proxy);
    router.service(SecretsServiceDesc, handlers);
    // Registered again on its own with the larger limit; the edge routes a path to its last handler.
    router.rpc(SecretsServiceDesc.method.redactText, handlers.redactText, { readMaxBytes: REDACT_REQUEST_MAX_BYTES });
  };
}

export function secretsHandlers(service: SecretsService, access: AccessHandlerDeps, agent: AgentHandlerDeps, proxy?: Proxy): ServiceImpl<typeof SecretsServiceDesc> {
  return {
    ...accessHandlers(access),
    ...agentHandlers(agent),
    ...proxyHandlers(proxy),

    async createSecret(req, ctx) {
      const secret = await service.createSecret(principal(ctx), {
        name: req.name,
        value: req.value,
        description: req.description,
        metadata: req.metadata,
        maxVersions: req.maxVersions,
        allowedHosts: req.allowedHosts,
        requestId: req.requestId,
        ...expiry(req.expireTime, req.ttl),
      });
      return { secret: toSecret(secret) };
    },

    async getSecret(req, ctx) {
      return { secret: toSecret(await service.getSecret(principal(ctx), req.name)) };
    },

    async getSecretValue(req, ctx) {
      return toValue(await service.getSecretValue(principal(ctx), req.name, toVersionNumber(req.version)));
    },

    async batchGetSecretValues(req, ctx) {
      const result = await service.batchGetSecretValues(principal(ctx), req.names);
      return {
        values: result.values.map(toValue),
        errors: result.errors.map((e) => ({ name: e.name, code: grpcCodeOf(e.error), message: e.error.message })),
      };
    },

    async listSecrets(req, ctx) {
      const page = await service.listSecrets(principal(ctx), {
        pageSize: req.pageSize,
        pageToken: req.pageToken,
        namePrefix: req.namePrefix,
        metadataFilter: req.metadataFilter,
        showDeleted: req.showDeleted,
      });
      return { secrets: page.secrets.map(toSecret), nextPageToken: page.nextPageToken };
    },

    async updateSecret(req, ctx) {
      const secret = await service.updateSecret(principal(ctx), {
        name: req.name,
        updateMask: req.updateMask?.paths ?? [],
        description: req.description,
        metadata: req.metadata,
        etag: req.etag,
        maxVersions: req.maxVersions,
        allowedHosts: req.allowedHosts,
        ...(req.value !== undefined ? { value: req.value } : {}),
        ...expiry(req.expireTime, req.ttl),
      });
      return { secret: toSecret(secret) };
    },

    async putSecretValue(req, ctx) {
      const r = await service.putSecretValue(principal(ctx), { name: req.name, value: req.value, etag: req.etag, requestId: req.requestId });
      return { version: toVersion(req.name, r.version), secret: toSecret(r.secret) };
    },

    async listSecretVersions(req, ctx) {
      const page = await service.listSecretVersions(principal(ctx), { name: req.name, pageSize: req.pageSize, pageToken: req.pageToken });
      return { versions: page.versions.map((v) => toVersion(req.name, v)), nextPageToken: page.nextPageToken };
    },

    disableSecretVersion: setVersionState(service, "disabled"),
    enableSecretVersion: setVersionState(service, "enabled"),
    destroySecretVersion: setVersionState(service, "destroyed"),

    async deleteSecret(req, ctx) {
      const secret = await service.deleteSecret(principal(ctx), {
        name: req.name,
        force: req.force,
        recoveryWindowDays: req.recoveryWindowDays,
        etag: req.etag,
      });
      return { secret: toSecret(secret) };
    },

    async restoreSecret(req, ctx) {
      return { secret: toSecret(await service.restoreSecret(principal(ctx), { name: req.name, etag: req.etag })) };
    },
  };
}

/** Disable, enable and destroy share one request and response shape. */
function setVersionState(service: SecretsService, state: DomainVersionState) {
  return async (req: { name: string; version: bigint; etag: string }, ctx: HandlerContext) => {
    const r = await service.setVersionState(principal(ctx), { name: req.name, version: toVersionNumber(req.version), etag: req.etag }, state);
    return { version: toVersion(req.name, r.version), secret: toSecret(r.secret) };
  };
}

function principal(ctx: HandlerContext): Principal {
  const p = ctx.values.get(principalKey);
  if (!p) throw new UnauthenticatedError("not authenticated");
  return p;
}

function toVersionNumber(version: bigint, field = "version"): number {
  if (version < 0n || version > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError(field, "must be 0 (latest) or a positive version number");
  return Number(version);
}

function expiry(expireTime: Timestamp | undefined, ttl: Duration | undefined): { expireTime?: Date; ttlMs?: number } {
  const out: { expireTime?: Date; ttlMs?: number } = {};
  if (expireTime) out.expireTime = timestampDate(expireTime);
  if (ttl) out.ttlMs = Number(ttl.seconds) * 1000 + Math.ceil(ttl.nanos / 1e6);
  return out;
}

const ts = (d: Date): Timestamp => timestampFromDate(d);
const optionalTs = (d: Date | undefined) => (d ? ts(d) : undefined);

const STATES: Record<DomainVersionState, VersionState> = {
  enabled: VersionState.ENABLED,
  disabled: VersionState.DISABLED,
  destroyed: VersionState.DESTROYED,
};

function toValue(v: SecretValue) {
  return { name: v.name, version: BigInt(v.version), value: v.value, createTime: ts(v.createTime) };
}

function toVersion(name: string, v: VersionRecord): MessageInitShape<typeof SecretVersionSchema> {
  return {
    name,
    version: BigInt(v.version),
    state: STATES[v.state],
    createTime: ts(v.createTime),
    createdBy: v.createdBy,
    destroyTime: optionalTs(v.destroyTime),
    keyId: v.keyId,
  };
}

/** The public view of a secret: no ids, no tenant, never a value. */
export function toSecret(s: SecretRecord): MessageInitShape<typeof SecretSchema> {
  return {
    name: s.name,
    description: s.description,
    metadata: { ...s.metadata },
    latestVersion: BigInt(s.latestVersion),
    createTime: ts(s.createTime),
    updateTime: ts(s.updateTime),
    createdBy: s.createdBy,
    updatedBy: s.updatedBy,
    etag: s.etag,
    expireTime: optionalTs(s.expireTime),
    deleteTime: optionalTs(s.deleteTime),
    purgeTime: optionalTs(s.purgeTime),
    maxVersions: s.maxVersions,
    lastAccessTime: optionalTs(s.lastAccessTime),
    allowedHosts: [...(s.allowedHosts ?? [])],
  };
}
