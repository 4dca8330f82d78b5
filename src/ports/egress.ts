// The outbound HTTP call of ProxyHttpRequest. The core decides what may be sent (which secrets, to which
// host); the adapter decides where bytes may go (address rules, TLS) and sends them. Its failures are the
// domain's errors: a refused destination is PermissionDeniedError naming the host, an upstream that cannot
// be reached or does not answer in time is UnavailableError; neither message holds a header, query or body.

export interface EgressHeader {
  readonly name: string;
  readonly value: string;
}

export interface EgressRequest {
  /** GET, POST, PUT, PATCH, DELETE or HEAD. */
  readonly method: string;
  /** Absolute http: or https: URL with the references already substituted. */
  readonly url: URL;
  /** As the caller gave them, after substitution; the adapter drops hop-by-hop and Proxy-* headers. */
  readonly headers: readonly EgressHeader[];
  readonly body: Uint8Array;
  /** The whole exchange, connect to the last body byte. */
  readonly timeoutMs: number;
  /** The response body is cut at this many bytes (`truncated`). */
  readonly maxResponseBytes: number;
  /** Aborted when the RPC is cancelled. */
  readonly signal?: AbortSignal;
}

export interface EgressResponse {
  readonly status: number;
  /** Without hop-by-hop headers; names lower-case, in the upstream's order. */
  readonly headers: readonly EgressHeader[];
  readonly body: Uint8Array;
  readonly truncated: boolean;
  /** The address that was connected to (for the audit trail and tests). */
  readonly remoteAddress: string;
}

export interface Egress {
  send(request: EgressRequest): Promise<EgressResponse>;
}
