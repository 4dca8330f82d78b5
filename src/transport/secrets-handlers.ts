import type { ConnectRouter, HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { SecretsService as SecretsServiceDesc, type SecretSchema } from "../../gen/secrets/v1/secrets_pb.js";
import type { Principal } from "../core/principal.js";
import type { SecretsService } from "../core/secrets-service.js";
import { InvalidArgumentError, UnauthenticatedError } from "../errors.js";
import type { SecretRecord } from "../ports/secret-store.js";
import { principalKey } from "./context.js";

// Handlers only map proto <-> domain; rules live in core/.

export function secretsRoutes(service: SecretsService): (router: ConnectRouter) => void {
  return (router) => router.service(SecretsServiceDesc, secretsHandlers(service));
}

export function secretsHandlers(service: SecretsService): ServiceImpl<typeof SecretsServiceDesc> {
  return {
    async createSecret(req, ctx) {
      const secret = await service.createSecret(principal(ctx), {
        name: req.name,
        value: req.value,
        description: req.description,
        metadata: req.metadata,
      });
      return { secret: toSecret(secret) };
    },

    async getSecret(req, ctx) {
      return { secret: toSecret(await service.getSecret(principal(ctx), req.name)) };
    },

    async getSecretValue(req, ctx) {
      const v = await service.getSecretValue(principal(ctx), req.name, toVersionNumber(req.version));
      return { name: v.name, version: BigInt(v.version), value: v.value, createTime: ts(v.createTime) };
    },

    async listSecrets(req, ctx) {
      const page = await service.listSecrets(principal(ctx), {
        pageSize: req.pageSize,
        pageToken: req.pageToken,
        namePrefix: req.namePrefix,
        metadataFilter: req.metadataFilter,
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
        ...(req.value !== undefined ? { value: req.value } : {}),
      });
      return { secret: toSecret(secret) };
    },
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

const ts = (d: Date): Timestamp => timestampFromDate(d);

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
  };
}
