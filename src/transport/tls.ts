import { unwatchFile, watchFile } from "node:fs";
import { readFile } from "node:fs/promises";
import * as tls from "node:tls";
import type { TlsConfig } from "../config/config.js";
import { clip } from "../errors.js";

/** TLS as the server takes it: without `files` nothing is watched; without `minVersion`, TLS 1.2. */
export type ServerTls = Omit<TlsConfig, "files" | "minVersion"> & Partial<Pick<TlsConfig, "files" | "minVersion">>;

/** Told after every attempt to load changed certificate files; a failure keeps the previous context. */
export type TlsReloadResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface TlsFileWatch {
  close(): void;
}

interface Material {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa?: Buffer | undefined;
}

/** How often the files are looked at, and how long a change must rest before they are read. */
const POLL_MS = 500;
const SETTLE_MS = 500;

/** Options for the secure server: the context, and with a client CA bundle, mutual TLS. */
export function tlsServerOptions(config: ServerTls): tls.TlsOptions {
  return {
    ...contextOptions(config, config.minVersion),
    // A client without a certificate signed by the bundle does not complete the handshake.
    ...(config.clientCa ? { requestCert: true, rejectUnauthorized: true } : {}),
  };
}

/**
 * Re-reads the certificate, key and client CA files when they change and gives the server the new
 * context; connections already open keep theirs. New material that does not load (unparsable, key
 * not matching the certificate, a file missing) is not used: the previous context stays.
 *
 * fs.watchFile polls stat(), which follows symlinks, so a file replaced by rename and a Kubernetes
 * secret mount (whose `..data` symlink is swapped) are both seen, wherever the link points; a
 * directory watch would miss the latter when the target lives in another directory. A change is
 * read once the files have rested for a moment, so a certificate and key replaced one after the
 * other are loaded as a pair.
 */
export function watchTlsFiles(server: tls.Server, config: ServerTls & { files: TlsConfig["files"] }, onReload: (result: TlsReloadResult) => void): TlsFileWatch {
  const { files } = config;
  const paths = [files.cert, files.key, ...(files.clientCa ? [files.clientCa] : [])];
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let reloading = Promise.resolve();
  const reload = async () => {
    const result = await loadInto(server, config);
    if (!closed) onReload(result);
  };
  const changed = () => {
    clearTimeout(timer);
    // One load at a time, in order: the last change is the one that stays.
    timer = setTimeout(() => (reloading = reloading.then(reload).catch(() => {})), SETTLE_MS);
    timer.unref();
  };
  for (const path of paths) watchFile(path, { interval: POLL_MS, persistent: false }, changed);
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      for (const path of paths) unwatchFile(path, changed);
    },
  };
}

async function loadInto(server: tls.Server, config: ServerTls & { files: TlsConfig["files"] }): Promise<TlsReloadResult> {
  let material: Material;
  try {
    const [cert, key, clientCa] = await Promise.all([
      readFile(config.files.cert),
      readFile(config.files.key),
      config.files.clientCa ? readFile(config.files.clientCa) : Promise.resolve(config.clientCa),
    ]);
    material = { cert, key, clientCa };
  } catch (err) {
    return { ok: false, reason: `reading the files failed: ${describe(err)}` };
  }
  const options = contextOptions(material, config.minVersion);
  try {
    // setSecureContext assigns the new options before it builds the context: check them first,
    // so a failure leaves the server exactly as it was.
    tls.createSecureContext(options);
  } catch (err) {
    return { ok: false, reason: `the new certificate, key or CA bundle does not load: ${describe(err)}` };
  }
  try {
    server.setSecureContext(options);
  } catch (err) {
    return { ok: false, reason: `the server refused the new context: ${describe(err)}` };
  }
  return { ok: true };
}

/** Everything setSecureContext replaces (it resets what it is not given, minVersion and ca included). */
function contextOptions(material: Material, minVersion: TlsConfig["minVersion"] | undefined): tls.SecureContextOptions {
  return {
    cert: material.cert,
    key: material.key,
    minVersion: minVersion ?? "TLSv1.2",
    ...(material.clientCa ? { ca: material.clientCa } : {}),
  };
}

/** OpenSSL's and fs's messages name the failing step or path, never the key itself. */
function describe(err: unknown): string {
  return clip(err instanceof Error ? err.message : String(err), 200);
}
