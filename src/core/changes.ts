import type { ChangeEvent, ChangeKind, ChangeListener } from "../ports/change-events.js";
import type { Clock } from "../ports/clock.js";
import type { FieldsPatch, SecretRecord, SecretRef, SecretStore, VersionState } from "../ports/secret-store.js";

// The one commit point's outlet: every committed mutation (writes, roll-forwards of a dead writer's
// claim, creates, purges) reaches the listener through `emitChange`.

export interface ChangeDeps {
  readonly clock: Clock;
  readonly changes?: ChangeListener;
}

/** What a write did, as recorded in its plan or its claim. */
export interface ChangeShape {
  readonly addedVersion?: number;
  readonly versionState?: { readonly version: number; readonly state: VersionState };
  readonly patch?: FieldsPatch;
}

export function changeKind(shape: ChangeShape): ChangeKind {
  if (shape.addedVersion !== undefined) return "version_added";
  if (shape.versionState) return `version_${shape.versionState.state}`;
  // A forced delete marks the secret due now, then purges it: watchers are told of the purge only.
  if (shape.patch?.deleteTime) return shape.patch.purgeTime && shape.patch.purgeTime <= shape.patch.deleteTime ? "purging" : "deleted";
  if (shape.patch?.deleteTime === null) return "restored";
  return "updated";
}

export async function emitChange(
  deps: ChangeDeps,
  secret: Pick<SecretRecord, "id" | "tenant" | "name" | "revision" | "latestVersion">,
  kind: ChangeKind,
  versions: readonly number[] = [],
): Promise<void> {
  if (!deps.changes) return;
  const event: ChangeEvent = {
    tenant: secret.tenant,
    name: secret.name,
    incarnation: secret.id,
    revision: secret.revision,
    latestVersion: secret.latestVersion,
    kind,
    versions: [...new Set(versions)].sort((a, b) => a - b),
    time: deps.clock.now(),
  };
  await deps.changes.committed(event);
}

/** Purges one incarnation, then tells the listener. */
export async function purgeSecret(deps: ChangeDeps & { readonly store: SecretStore }, secret: SecretRef & Pick<SecretRecord, "revision" | "latestVersion">): Promise<void> {
  // Announced by the one call that removed it (of racing sweepers and a forced delete).
  if (await deps.store.purgeSecret(secret)) await emitChange(deps, secret, "purged");
}
