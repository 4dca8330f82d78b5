/** Who is calling. The tenant scopes every read and write; it never comes from a request body. */
export interface Principal {
  /** The developer that owns the secrets (token's developer_id, else sub). */
  readonly tenant: string;
  /** The principal recorded in created_by / updated_by (token's sub). */
  readonly subject: string;
}
