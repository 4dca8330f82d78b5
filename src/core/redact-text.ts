import { LRUCache } from "lru-cache";
import { InvalidArgumentError, NotFoundError, ResourceExhaustedError } from "../errors.js";
import type { ChangeEvent } from "../ports/change-events.js";
import type { ChangeFeed, FeedSubscription } from "../ports/change-feed.js";
import { nameMatcher } from "../ports/name-globs.js";
import type { SecretRecord } from "../ports/secret-store.js";
import { openValue, versionBinding } from "./envelope.js";
import { BATCH_MAX_NAMES, MAX_PAGE_SIZE } from "./limits.js";
import type { Principal } from "./principal.js";
import type { ReadDeps } from "./reads.js";
import { buildRedactor, REDACT_TEXT_MAX_BYTES, type RedactionEntry, type RedactionResult, type Redactor } from "./redaction.js";
import { validateName } from "./validation.js";
import { isLive, visibleVersion } from "./visibility.js";

// RedactText: the enabled values of the named secrets (or of all the tenant's, within the token's
// globs) found in a text, raw or encoded, and replaced by markers. Building a redactor decrypts
// every enabled version it covers, so built redactors are kept per (tenant, globs, names) and
// dropped when any secret of the tenant changes: on this replica at once (`committed`), on the others
// through the change feed, to which a tenant with a kept redactor is subscribed. Without the feed
// (down, or lost) nothing is kept: every call builds afresh, so a changed value is never missed.

export const REDACT_MAX_NAMES = BATCH_MAX_NAMES;
/** Versions opened at once while building. */
const OPEN_CONCURRENCY = 8;

export interface RedactTextDeps extends ReadDeps {
  readonly feed?: ChangeFeed;
  /** Redactors kept at most (each holds the values it covers, in memory only). */
  readonly maxKept?: number;
}

export interface RedactText {
  redactText(p: Principal, text: string, names: readonly string[]): Promise<RedactionResult>;
  /** A committed change on this replica. */
  committed(event: ChangeEvent): Promise<void>;
  close(): void;
}

interface TenantState {
  /** Bumped by every change of the tenant's secrets; part of every kept redactor's key. */
  generation: number;
  subscription?: FeedSubscription;
  subscribing?: Promise<boolean>;
}

export function createRedactText(deps: RedactTextDeps): RedactText {
  const kept = new LRUCache<string, Redactor>({ max: deps.maxKept ?? 256 });
  const tenants = new LRUCache<string, TenantState>({
    max: 10_000,
    dispose: (state) => state.subscription?.unsubscribe(),
  });

  const changed = (tenant: string) => {
    const state = tenants.peek(tenant);
    if (state) state.generation++;
  };

  /** Whether the tenant's changes on every replica reach this one now, so a redactor may be kept. */
  async function watched(tenant: string): Promise<TenantState | undefined> {
    if (!deps.feed) return undefined;
    let state = tenants.get(tenant);
    if (!state) tenants.set(tenant, (state = { generation: 0 }));
    if (state.subscription) return state;
    const s = state;
    s.subscribing ??= deps.feed
      .subscribe(tenant, {
        event: () => s.generation++,
        lost: () => {
          s.generation++;
          delete s.subscription;
        },
      })
      .then((subscription) => {
        s.subscription = subscription;
        return true;
      })
      .catch(() => false)
      .finally(() => delete s.subscribing);
    return (await s.subscribing) ? s : undefined;
  }

  return {
    async redactText(p, text, names) {
      if (Buffer.byteLength(text) > REDACT_TEXT_MAX_BYTES) throw new ResourceExhaustedError(`text is larger than ${REDACT_TEXT_MAX_BYTES} bytes`);
      const explicit = checkNames(p, names);
      const state = await watched(p.tenant);
      const key = state && `${p.tenant}\n${state.generation}\n${(p.globs ?? ["*"]).join(",")}\n${[...explicit].sort().join(",")}`;
      let redactor = key === undefined ? undefined : kept.get(key);
      if (!redactor) {
        const before = state?.generation;
        redactor = buildRedactor(await entriesFor(deps, p, explicit), { explicitNames: explicit });
        // Kept only if no change arrived while building (it might not be in what was read).
        if (key !== undefined && state && state.generation === before && state.subscription) kept.set(key, redactor);
      }
      return redactor.redact(text);
    },

    async committed(event) {
      changed(event.tenant);
    },

    close() {
      tenants.clear();
      kept.clear();
    },
  };
}

function checkNames(p: Principal, names: readonly string[]): Set<string> {
  if (names.length > REDACT_MAX_NAMES) throw new InvalidArgumentError("names", `must name at most ${REDACT_MAX_NAMES} secrets`);
  for (const name of names) validateName(name, "names");
  return new Set(names);
}

/** Every enabled version's value of the named secrets (all the tenant's visible ones when none is named). */
async function entriesFor(deps: ReadDeps, p: Principal, explicit: ReadonlySet<string>): Promise<RedactionEntry[]> {
  const allowed = p.globs ? nameMatcher(p.globs) : () => true;
  const now = deps.clock.now();
  let secrets: SecretRecord[];
  if (explicit.size) {
    const wanted = [...explicit];
    const found = new Map((await deps.store.findSecrets(p.tenant, wanted.filter(allowed))).map((s) => [s.name, s]));
    const unknown = wanted.filter((n) => !allowed(n) || !found.get(n) || !isLive(found.get(n)!, now)).sort();
    // A typo must not silently turn redaction off.
    if (unknown.length) throw new NotFoundError(`secrets not found: ${unknown.join(", ")}`);
    secrets = wanted.map((n) => found.get(n)!);
  } else {
    secrets = await allLive(deps, p);
  }
  const entries: RedactionEntry[] = [];
  await forEachLimited(secrets, OPEN_CONCURRENCY, async (secret) => {
    for (const value of await enabledValues(deps, p, secret)) entries.push({ name: secret.name, value });
  });
  return entries;
}

/** The tenant's live secrets within the globs, with `current` (list pages hold none). */
async function allLive(deps: ReadDeps, p: Principal): Promise<SecretRecord[]> {
  const out: SecretRecord[] = [];
  let afterName: string | undefined;
  for (;;) {
    const page = await deps.store.listSecrets({
      tenant: p.tenant,
      namePrefix: "",
      metadataFilter: {},
      limit: MAX_PAGE_SIZE,
      showDeleted: false,
      now: deps.clock.now(),
      ...(afterName !== undefined ? { afterName } : {}),
      ...(p.globs ? { nameGlobs: p.globs } : {}),
    });
    for (let i = 0; i < page.length; i += BATCH_MAX_NAMES) {
      const found = await deps.store.findSecrets(p.tenant, page.slice(i, i + BATCH_MAX_NAMES).map((s) => s.name));
      out.push(...found.filter((s) => isLive(s, deps.clock.now())));
    }
    if (page.length < MAX_PAGE_SIZE) return out;
    afterName = page.at(-1)!.name;
  }
}

/** No query for a secret with one live version (it is `current`); else the list, then each enabled version's sealed value. */
async function enabledValues(deps: ReadDeps, p: Principal, secret: SecretRecord): Promise<string[]> {
  const open = (version: number, sealed: NonNullable<SecretRecord["current"]>["sealed"]) =>
    openValue(deps.keys, versionBinding(p.tenant, secret, version), sealed);
  if (secret.liveVersions <= 1) return secret.current ? [await open(secret.current.version, secret.current.sealed)] : [];
  const versions = await deps.store.listVersions(secret.id, secret.latestVersion, secret.latestVersion);
  const values: string[] = [];
  for (const listed of versions) {
    // A state change not yet committed does not count (a writer may still undo it).
    if (visibleVersion(listed, secret).state !== "enabled") continue;
    // Listed versions come without their sealed values.
    const stored = await deps.store.findVersion(secret.id, listed.version);
    if (stored?.sealed && visibleVersion(stored, secret).state === "enabled") values.push(await open(stored.version, stored.sealed));
  }
  return values;
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
