import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { OpenedValue } from "./reads.js";

// A cache entry as the shared layer (Redis) holds it: a clear header that says under which cache key,
// epoch and generation it was filled and what it is, then the value sealed with AES-256-GCM under the
// cache key. The associated data is the header plus {tenant, name, slot}: an entry opens only for the
// secret, incarnation, version and fill it was made for, so entries cannot be swapped between keys
// or tenants, and a header cannot be edited. Layout: format(1) | header length(2, BE) | header JSON |
// iv(12) | tag(16) | ciphertext.

const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_HEADER_BYTES = 1024;

export interface EntryTags {
  readonly epoch: string;
  readonly generation: string;
}

export interface EntryHeader extends EntryTags {
  /** Which cache key sealed it. */
  readonly keyId: string;
  readonly version: number;
  readonly incarnation: string;
}

/** Where an entry lives: the secret and the slot ("0" for the latest version, else the version number). */
export interface EntryPlace {
  readonly tenant: string;
  readonly name: string;
  readonly slot: string;
}

export function sealEntry(cacheKey: Buffer, header: EntryHeader, place: EntryPlace, opened: OpenedValue): Buffer {
  const headerBytes = Buffer.from(JSON.stringify(header));
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", cacheKey, iv);
  cipher.setAAD(associatedData(headerBytes, place));
  const payload = Buffer.from(
    JSON.stringify({
      v: opened.value.value,
      c: opened.value.createTime.getTime(),
      ...(opened.expireTime ? { x: opened.expireTime.getTime() } : {}),
      ...(opened.value.allowedHosts ? { h: opened.value.allowedHosts } : {}),
    }),
  );
  const ciphertext = Buffer.concat([cipher.update(payload), cipher.final()]);
  payload.fill(0);
  const lead = Buffer.alloc(3);
  lead.writeUInt8(FORMAT, 0);
  lead.writeUInt16BE(headerBytes.length, 1);
  return Buffer.concat([lead, headerBytes, iv, cipher.getAuthTag(), ciphertext]);
}

/** The header, or undefined when the bytes are not an entry of this format. */
export function readHeader(bytes: Uint8Array): EntryHeader | undefined {
  const split = splitEntry(bytes);
  return split?.header;
}

/** The value, or undefined when the entry does not authenticate for this place (tampered, or another key). */
export function openEntry(cacheKey: Buffer, bytes: Uint8Array, place: EntryPlace, name: string): OpenedValue | undefined {
  const split = splitEntry(bytes);
  if (!split) return undefined;
  let payload: Buffer | undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", cacheKey, split.iv);
    decipher.setAAD(associatedData(split.headerBytes, place));
    decipher.setAuthTag(split.tag);
    payload = Buffer.concat([decipher.update(split.ciphertext), decipher.final()]);
    const fields = JSON.parse(payload.toString("utf8")) as { v: unknown; c: unknown; x?: unknown; h?: unknown };
    if (typeof fields.v !== "string" || typeof fields.c !== "number") return undefined;
    const hosts = fields.h;
    if (hosts !== undefined && !(Array.isArray(hosts) && hosts.every((h) => typeof h === "string"))) return undefined;
    return {
      value: { name, version: split.header.version, value: fields.v, createTime: new Date(fields.c), ...(hosts ? { allowedHosts: hosts as string[] } : {}) },
      incarnation: split.header.incarnation,
      ...(typeof fields.x === "number" ? { expireTime: new Date(fields.x) } : {}),
    };
  } catch {
    return undefined;
  } finally {
    payload?.fill(0);
  }
}

function associatedData(headerBytes: Buffer, place: EntryPlace): Buffer {
  return Buffer.concat([headerBytes, Buffer.from(JSON.stringify(["secrets.cache.v1", place.tenant, place.name, place.slot]))]);
}

function splitEntry(bytes: Uint8Array) {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 3 || b.readUInt8(0) !== FORMAT) return undefined;
  const headerLength = b.readUInt16BE(1);
  if (headerLength > MAX_HEADER_BYTES || b.length < 3 + headerLength + IV_BYTES + TAG_BYTES) return undefined;
  const headerBytes = b.subarray(3, 3 + headerLength);
  const header = parseHeader(headerBytes);
  if (!header) return undefined;
  const rest = 3 + headerLength;
  return {
    header,
    headerBytes,
    iv: b.subarray(rest, rest + IV_BYTES),
    tag: b.subarray(rest + IV_BYTES, rest + IV_BYTES + TAG_BYTES),
    ciphertext: b.subarray(rest + IV_BYTES + TAG_BYTES),
  };
}

function parseHeader(bytes: Buffer): EntryHeader | undefined {
  try {
    const h = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    const strings = [h.keyId, h.epoch, h.generation, h.incarnation].every((v) => typeof v === "string");
    if (!strings || !Number.isSafeInteger(h.version)) return undefined;
    return h as unknown as EntryHeader;
  } catch {
    return undefined;
  }
}
