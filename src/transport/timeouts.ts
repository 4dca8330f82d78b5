// Client deadlines arrive as `grpc-timeout` (gRPC, gRPC-Web: up to 8 digits and a unit) or
// `connect-timeout-ms`. A value beyond what a timer can hold would arm a 1 ms timer (with a
// TimeoutOverflowWarning); beyond `maxMs` the deadline is shortened to `maxMs` instead.
// Malformed values are left for connect to refuse.

const GRPC_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000_001 };

export function clampTimeouts(header: Headers, maxMs: number): void {
  const grpc = /^(\d{1,8})([HMSmun])$/.exec(header.get("grpc-timeout") ?? "");
  if (grpc && Number(grpc[1]) * GRPC_UNIT_MS[grpc[2]!]! > maxMs) header.set("grpc-timeout", grpcTimeout(maxMs));
  const connect = header.get("connect-timeout-ms");
  if (connect !== null && /^\d{1,10}$/.test(connect) && Number(connect) > maxMs) header.set("connect-timeout-ms", String(Math.floor(maxMs)));
}

/** The longest grpc-timeout value (8 digits) not over `ms`. */
function grpcTimeout(ms: number): string {
  return ms <= 99_999_999 ? `${Math.floor(ms)}m` : `${Math.min(99_999_999, Math.floor(ms / 1000))}S`;
}
