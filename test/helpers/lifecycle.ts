import { setTimeout as sleep } from "node:timers/promises";
import type { Client } from "@connectrpc/connect";
import { VersionState, type Secret, type SecretsService, type SecretVersion } from "../../gen/secrets/v1/secrets_pb.js";

// Small reading aids for the lifecycle RPC tests (versions, delete/restore, expiry, batch reads).

export type Secrets = Client<typeof SecretsService>;

/** Runs `work` over `items` with at most `width` in flight. */
export async function inParallel<T>(items: readonly T[], width: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** Every version of a secret, following next_page_token. */
export async function listAllVersions(client: Secrets, name: string, pageSize = 1_000): Promise<SecretVersion[]> {
  const all: SecretVersion[] = [];
  let pageToken = "";
  do {
    const page = await client.listSecretVersions({ name, pageSize, pageToken });
    all.push(...page.versions);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return all;
}

/** Version number → state name ("ENABLED", "DISABLED", "DESTROYED"), for compact assertions. */
export async function versionStates(client: Secrets, name: string): Promise<Record<number, string>> {
  const versions = await listAllVersions(client, name);
  return Object.fromEntries(versions.map((v) => [Number(v.version), VersionState[v.state]]));
}

/** The secret as ListSecrets(show_deleted) shows it: works for live and soft-deleted secrets alike. */
export async function listedSecret(client: Secrets, name: string, showDeleted = true): Promise<Secret | undefined> {
  const page = await client.listSecrets({ namePrefix: name, showDeleted, pageSize: 1_000 });
  return page.secrets.find((s) => s.name === name);
}

/** Polls `condition` until it holds; throws (naming `what`) after `timeoutMs`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > giveUpAt) throw new Error(`timed out waiting until ${what}`);
    await sleep(5);
  }
}
