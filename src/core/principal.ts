import { UnauthenticatedError } from "../errors.js";

/** Who is calling. The tenant scopes every read and write; it never comes from a request body. */
export interface Principal {
  /** The developer that owns the secrets (token's developer_id, else sub). */
  readonly tenant: string;
  /** The principal recorded in created_by / updated_by (token's sub). */
  readonly subject: string;
  /**
   * The name globs of the caller's token (ports/name-globs.ts); absent = every name. A name outside
   * them reads as absent (see core/name-scope.ts).
   */
  readonly globs?: readonly string[];
  /** The tenant was chosen with x-developer-id by a secrets.delegate token. */
  readonly delegated?: boolean;
}

/**
 * What a tenant or subject may look like: the one rule shared by token verification and the core.
 * A plain string of these characters can never act as a query operator, a path or a key separator.
 */
export const PRINCIPAL_ID_PATTERN = /^[A-Za-z0-9_.@:|-]{1,128}$/;

export function isValidPrincipalId(value: unknown): value is string {
  return typeof value === "string" && PRINCIPAL_ID_PATTERN.test(value);
}

/**
 * Refuses a principal whose tenant or subject breaks the rule. The principal comes from the
 * token, so this is UNAUTHENTICATED; the message never quotes the value.
 */
export function validatePrincipal(p: unknown): asserts p is Principal {
  if (typeof p !== "object" || p === null) throw new UnauthenticatedError("no valid principal");
  const { tenant, subject } = p as Record<string, unknown>;
  if (!isValidPrincipalId(tenant)) throw new UnauthenticatedError("principal tenant is not a valid principal id");
  if (!isValidPrincipalId(subject)) throw new UnauthenticatedError("principal subject is not a valid principal id");
}
