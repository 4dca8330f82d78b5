import {
  AuditEventSchema,
  SecretEventType,
  SecretSchema,
  SecretVersionSchema,
  VersionState,
  type AuditEvent,
  type Secret,
  type SecretEvent,
  type SecretVersion,
} from "../../../gen/secrets/v1/secrets_pb.js";
import { codeName } from "./exit-codes.js";
import { fieldsView, jsonOf, mapText, time, type TableView } from "./output.js";

// Table views and JSON documents of the service's messages.

export const secretJson = (s: Secret) => jsonOf(SecretSchema, s);
export const versionJson = (v: SecretVersion) => jsonOf(SecretVersionSchema, v);
export const auditJson = (e: AuditEvent) => jsonOf(AuditEventSchema, e);

export function secretView(s: Secret): TableView {
  return fieldsView([
    ["name", s.name],
    ["description", s.description],
    ["latest_version", String(s.latestVersion)],
    ["metadata", mapText(s.metadata)],
    ["allowed_hosts", s.allowedHosts.join(", ")],
    ["max_versions", s.maxVersions ? String(s.maxVersions) : undefined],
    ["expire_time", time(s.expireTime)],
    ["create_time", time(s.createTime)],
    ["created_by", s.createdBy],
    ["update_time", time(s.updateTime)],
    ["updated_by", s.updatedBy],
    ["last_access_time", time(s.lastAccessTime)],
    ["delete_time", time(s.deleteTime)],
    ["purge_time", time(s.purgeTime)],
    ["etag", s.etag],
  ]);
}

export function secretsView(secrets: readonly Secret[]): TableView {
  return {
    head: ["NAME", "VERSION", "UPDATED", "DESCRIPTION", "METADATA"],
    rows: secrets.map((s) => [
      s.deleteTime ? `${s.name} (deleted)` : s.name,
      String(s.latestVersion),
      time(s.updateTime),
      s.description,
      mapText(s.metadata),
    ]),
  };
}

export function stateName(state: VersionState): string {
  return (VersionState[state] ?? "UNSPECIFIED").replace(/^VERSION_STATE_/, "").toLowerCase();
}

export function versionsView(versions: readonly SecretVersion[]): TableView {
  return {
    head: ["VERSION", "STATE", "CREATED", "CREATED_BY", "DESTROYED"],
    rows: versions.map((v) => [String(v.version), stateName(v.state), time(v.createTime), v.createdBy, time(v.destroyTime)]),
  };
}

export function versionView(v: SecretVersion): TableView {
  return fieldsView([
    ["name", v.name],
    ["version", String(v.version)],
    ["state", stateName(v.state)],
    ["create_time", time(v.createTime)],
    ["created_by", v.createdBy],
    ["destroy_time", time(v.destroyTime)],
  ]);
}

export function eventTypeName(type: SecretEventType): string {
  return (SecretEventType[type] ?? "UNSPECIFIED").replace(/^SECRET_EVENT_TYPE_/, "").toLowerCase();
}

export function eventLine(e: SecretEvent): string {
  return [time(e.eventTime), eventTypeName(e.type), e.name, e.version ? String(e.version) : ""].join("\t").trimEnd();
}

export function auditView(events: readonly AuditEvent[]): TableView {
  return {
    head: ["TIME", "METHOD", "CODE", "NAMES", "PRINCIPAL", "REQUEST_ID"],
    rows: events.map((e) => [
      time(e.eventTime),
      e.method,
      codeName(e.code),
      e.names.join(", "),
      e.delegated ? `${e.principal} (delegated)` : e.principal,
      e.requestId,
    ]),
  };
}
