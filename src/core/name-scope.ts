import { NotFoundError, PermissionDeniedError, type SecretsError } from "../errors.js";
import type { Principal } from "./principal.js";
import { checkBatchNames } from "./reads.js";
import type { SecretsService } from "./secrets-service.js";
import { nameMatcher } from "../ports/name-globs.js";
import { isValidName, validateName } from "./validation.js";

// A token's name globs (Principal.globs) applied to every operation, after the name's own
// validation and before any lookup: a name outside them is NOT_FOUND, exactly as if absent
// (PERMISSION_DENIED for CreateSecret, which has nothing to find); lists and batch reads leave
// such names out or answer NOT_FOUND for them.

const notFound = (name: string) => new NotFoundError(`secret "${name}" not found`);

/** One compiled matcher per glob list (a token's list is shared by every call presenting it). */
const matchers = new WeakMap<readonly string[], (name: string) => boolean>();

/** Whether the principal's globs allow the name; undefined when the principal has none (every name). */
function allows(p: Principal): ((name: string) => boolean) | undefined {
  if (!p.globs) return undefined;
  let matches = matchers.get(p.globs);
  if (!matches) matchers.set(p.globs, (matches = nameMatcher(p.globs)));
  return matches;
}

function check(p: Principal, name: string): void {
  validateName(name);
  if (allows(p)?.(name) === false) throw notFound(name);
}

export function withNameScope(service: SecretsService): SecretsService {
  return {
    async createSecret(p, input) {
      validateName(input.name);
      if (allows(p)?.(input.name) === false) throw new PermissionDeniedError(`the token may not create secret "${input.name}"`);
      return service.createSecret(p, input);
    },
    async getSecret(p, name) {
      check(p, name);
      return service.getSecret(p, name);
    },
    async getSecretValue(p, name, version) {
      check(p, name);
      return service.getSecretValue(p, name, version);
    },
    async batchGetSecretValues(p, names) {
      const allowed = allows(p);
      if (!allowed) return service.batchGetSecretValues(p, names);
      checkBatchNames(names);
      // Invalid names keep their own error (from the service); valid names outside the globs are NOT_FOUND.
      const outside = new Set(names.filter((n) => isValidName(n) && !allowed(n)));
      const inside = names.filter((n) => !outside.has(n));
      const read = inside.length ? await service.batchGetSecretValues(p, inside) : { values: [], errors: [] };
      const errors = new Map<string, SecretsError>(read.errors.map((e) => [e.name, e.error]));
      for (const name of outside) errors.set(name, notFound(name));
      return { values: read.values, errors: names.flatMap((name) => (errors.has(name) ? [{ name, error: errors.get(name)! }] : [])) };
    },
    // The store filters by the globs itself, so neither a page nor its cursor holds a hidden name.
    listSecrets: (p, input) => service.listSecrets(p, input),
    async updateSecret(p, input) {
      check(p, input.name);
      return service.updateSecret(p, input);
    },
    async putSecretValue(p, input) {
      check(p, input.name);
      return service.putSecretValue(p, input);
    },
    async listSecretVersions(p, input) {
      check(p, input.name);
      return service.listSecretVersions(p, input);
    },
    async setVersionState(p, ref, state) {
      check(p, ref.name);
      return service.setVersionState(p, ref, state);
    },
    async deleteSecret(p, input) {
      check(p, input.name);
      return service.deleteSecret(p, input);
    },
    async restoreSecret(p, input) {
      check(p, input.name);
      return service.restoreSecret(p, input);
    },
  };
}
