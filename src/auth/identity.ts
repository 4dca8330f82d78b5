// What a verified token says about its caller: who, for which tenant, with which scopes and names.
// The request pipeline (transport/access.ts) turns it into the core's Principal for one call.

export const SCOPES = ["secrets.read", "secrets.access", "secrets.write", "secrets.proxy", "secrets.delegate", "secrets.admin"] as const;
export type Scope = (typeof SCOPES)[number];

/** What a token without a `scope` claim gets (for its own tenant). */
export const DEFAULT_SCOPES: readonly Scope[] = ["secrets.read", "secrets.access", "secrets.write", "secrets.proxy"];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

export interface Identity {
  /** The token's sub. */
  readonly subject: string;
  /** The token's developer_id, else its sub: the tenant it acts for unless it delegates. */
  readonly tenant: string;
  /** Scopes this service knows; others in the claim are ignored (the claim may serve other services too). */
  readonly scopes: ReadonlySet<Scope>;
  /** Name globs (`secrets` claim); undefined = every name, [] = none. */
  readonly secrets?: readonly string[];
  /** The token's exp (epoch seconds); undefined only in dev mode. */
  readonly exp?: number;
  /** Set when the token is a task token minted by this service. */
  readonly task?: { readonly id: string; readonly label: string };
}
