import { clip, InvalidArgumentError } from "../errors.js";

// Host patterns: where ProxyHttpRequest may send a secret (Secret.allowed_hosts), and the operator's
// PROXY_ALLOW_PRIVATE_HOSTS / PROXY_INSECURE_HOSTS lists. One grammar and one matching rule for all:
//   api.stripe.com        that DNS name
//   *.openai.com          any subdomain of it, at any depth, but not openai.com itself
//   203.0.113.7, [::1]    an IP literal
// each with an optional `:port`; without one, only the scheme's default port (443 for https, 80 for
// http) matches, so a listed host cannot be reached on another service of the same machine.
// A URL host with a trailing dot ("api.stripe.com.") names the same host and matches the same way.

export const MAX_ALLOWED_HOSTS = 32;
const MAX_PATTERN_CHARS = 261;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

interface HostPattern {
  /** Lower-case name or IP literal (IPv6 in brackets, as URL.hostname gives it); without "*.". */
  readonly host: string;
  readonly wildcard: boolean;
  /** Undefined: the scheme's default port. */
  readonly port?: number;
}

/** The pattern parsed, or undefined when it is not one. */
function parse(text: string): HostPattern | undefined {
  // Printable ASCII before lower-casing: "\u212A".toLowerCase() is "k", so a Kelvin sign would pass as a letter.
  if (text.length > MAX_PATTERN_CHARS || !/^[\x21-\x7e]+$/.test(text)) return undefined;
  const lower = text.toLowerCase();
  let host = lower;
  let port: number | undefined;
  const portAt = lower.startsWith("[") ? lower.indexOf("]:") + 1 : lower.lastIndexOf(":");
  if (portAt > 0) {
    const digits = lower.slice(portAt + 1);
    if (!/^[1-9]\d{0,4}$/.test(digits) || Number(digits) > 65_535) return undefined;
    port = Number(digits);
    host = lower.slice(0, portAt);
  }
  if (host.startsWith("[")) return host.endsWith("]") && isIpv6(host.slice(1, -1)) ? { host: canonicalIpv6(host), wildcard: false, ...(port ? { port } : {}) } : undefined;
  const wildcard = host.startsWith("*.");
  const name = wildcard ? host.slice(2) : host;
  if (IPV4.test(name)) return wildcard ? undefined : { host: name, wildcard, ...(port ? { port } : {}) };
  const labels = name.split(".");
  if (name.length > 253 || !labels.every((l) => LABEL.test(l))) return undefined;
  // "*.com" would be every host of a top-level domain; a name that is all digits is no DNS name.
  if (wildcard && labels.length < 2) return undefined;
  if (/^[\d.]+$/.test(name)) return undefined;
  return { host: name, wildcard, ...(port ? { port } : {}) };
}

function isIpv6(text: string): boolean {
  try {
    return new URL(`http://[${text}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

/** As URL.hostname writes it ("[::1]"), so a pattern and a URL compare as strings. */
function canonicalIpv6(bracketed: string): string {
  return new URL(`http://${bracketed}/`).hostname;
}

function format(p: HostPattern): string {
  return `${p.wildcard ? "*." : ""}${p.host}${p.port ? `:${p.port}` : ""}`;
}

/** A secret's allowed_hosts: each checked, lower-cased, duplicates removed, sorted; at most 32. */
export function normalizeAllowedHosts(field: string, entries: readonly string[]): string[] {
  if (entries.length > MAX_ALLOWED_HOSTS) throw new InvalidArgumentError(field, `at most ${MAX_ALLOWED_HOSTS} host patterns`);
  const out = new Set<string>();
  entries.forEach((entry, i) => {
    const p = typeof entry === "string" ? parse(entry) : undefined;
    if (!p) throw new InvalidArgumentError(`${field}[${i}]`, `"${clip(String(entry))}" is not a host pattern (host, *.domain, IP, optional :port)`);
    out.add(format(p));
  });
  return [...out].sort();
}

const defaultPort = (url: URL) => (url.protocol === "https:" ? 443 : url.protocol === "http:" ? 80 : undefined);

/** Whether the URL's host and port are the pattern's (see the rules at the top). */
export function urlMatchesHostPattern(pattern: string, url: URL): boolean {
  const p = parse(pattern);
  if (!p) return false;
  const port = url.port === "" ? defaultPort(url) : Number(url.port);
  if (port !== (p.port ?? defaultPort(url))) return false;
  const host = url.hostname.endsWith(".") ? url.hostname.slice(0, -1) : url.hostname;
  return p.wildcard ? host.endsWith(`.${p.host}`) : host === p.host;
}

/** A configuration list: comma-separated patterns, spaces trimmed, empty entries ignored. */
export function parseHostList(variable: string, text: string): string[] {
  const entries = text.split(",").map((e) => e.trim()).filter((e) => e !== "");
  const out: string[] = [];
  for (const entry of entries) {
    const p = parse(entry);
    if (!p) throw new InvalidArgumentError(variable, `"${clip(entry)}" is not a host pattern (host, *.domain, IP, optional :port)`);
    out.push(format(p));
  }
  return out;
}

export function hostListMatches(list: readonly string[], url: URL): boolean {
  return list.some((pattern) => urlMatchesHostPattern(pattern, url));
}
