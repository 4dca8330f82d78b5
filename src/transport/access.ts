import type { ConnectError, Interceptor } from "@connectrpc/connect";
import type { Identity } from "../auth/identity.js";
import { authorize } from "../auth/policy.js";
import type { TaskTokens } from "../auth/task-token-service.js";
import type { TokenVerifier } from "../auth/token-verifier.js";
import type { AuditTrail } from "../core/audit-trail.js";
import { isValidPrincipalId, type Principal } from "../core/principal.js";
import { InvalidArgumentError, PermissionDeniedError, UnauthenticatedError, UnavailableError } from "../errors.js";
import type { AuditEvent } from "../ports/audit-store.js";
import { touchedBy } from "./audit-facts.js";
import { callKey, type CallRecord } from "./call.js";
import { identityKey, principalKey } from "./context.js";
import { toConnectError } from "./errors.js";

// The request pipeline: every call of a guarded service passes these steps in this order, so no
// handler can forget one:
//   authentication (one bearer token; a task token must also be live) → the delegation header
//   → the method's scope → the handler (which validates fields, applies the name globs and looks
//   up) → the call's one audit event, with its outcome, durably written before the response
//   leaves. If the event cannot be written the call fails with UNAVAILABLE (fail closed).

export interface AccessDeps {
  readonly verifier: TokenVerifier;
  /** Services whose calls pass the pipeline (SecretsService). */
  readonly guarded: ReadonlySet<string>;
  readonly taskTokens?: Pick<TaskTokens, "checkLive">;
  /** Absent: no audit trail (AUDIT=off). */
  readonly audit?: Pick<AuditTrail, "record">;
}

export const DELEGATION_HEADER = "x-developer-id";

/** After an audit write fails, calls are refused at once for this long rather than each waiting on a sink that is down. */
const AUDIT_FAIL_FAST_MS = 1_000;

export function accessInterceptor(deps: AccessDeps): Interceptor {
  let auditFailedAt = -Infinity;
  return (next) => async (req) => {
    if (!deps.guarded.has(req.service.typeName)) return next(req);
    const call = req.contextValues.get(callKey);
    const method = req.method.name;
    if (deps.audit && performance.now() - auditFailedAt < AUDIT_FAIL_FAST_MS) {
      if (call) call.audited = true;
      throw new UnavailableError("audit trail unavailable");
    }
    let identity: Identity | undefined;
    let principal: Principal | undefined;
    let res: Awaited<ReturnType<typeof next>> | undefined;
    let failure: ConnectError | undefined;
    // A streaming call's request arrives as a stream: what the handler reads of it is kept for the
    // audit event, which is written once the stream is open (before its first message).
    let received: unknown;
    if (req.stream) req = { ...req, message: keepLast(req.message, (m) => (received = m)) };
    try {
      identity = await authenticate(deps, call, req.header);
      principal = { tenant: identity.tenant, subject: identity.subject };
      principal = delegate(identity, req.header.get(DELEGATION_HEADER));
      authorize(identity, method);
      req.contextValues.set(identityKey, identity);
      req.contextValues.set(principalKey, principal);
      if (call) call.developer = principal.tenant;
      res = await next(req);
    } catch (err) {
      failure = toConnectError(err);
    }
    if (call) call.audited = true;
    if (deps.audit) {
      const touched = req.stream ? touchedBy(method, received, undefined) : touchedBy(method, req.message, res?.message);
      const code = failure ? failure.code : 0;
      const events =
        touched.perName && touched.names.length > 1
          ? touched.names.map((name, i) => auditEvent(call, method, identity, principal, code, { names: [name], versions: [touched.versions[i] ?? 0] }))
          : [auditEvent(call, method, identity, principal, code, touched)];
      try {
        await Promise.all(events.map((event) => deps.audit!.record(event)));
      } catch (err) {
        auditFailedAt = performance.now();
        // Nothing leaves unrecorded: a refusal may keep its own answer, a success may not.
        if (!failure) throw toConnectError(err instanceof UnavailableError ? err : new UnavailableError("audit trail unavailable", { cause: err }));
      }
    }
    if (failure) throw failure;
    return res!;
  };
}

/** The same messages, the last one handed to `keep` as it passes. */
async function* keepLast<T>(messages: AsyncIterable<T>, keep: (m: T) => void): AsyncIterable<T> {
  for await (const m of messages) {
    keep(m);
    yield m;
  }
}

async function authenticate(deps: AccessDeps, call: CallRecord | undefined, header: Headers): Promise<Identity> {
  // Node keeps only the first of repeated authorization headers; the edge counted them.
  if (call && call.authorizationHeaders > 1) throw new UnauthenticatedError("more than one authorization header");
  const match = /^Bearer\s+(\S+)$/i.exec(header.get("authorization") ?? "");
  if (!match?.[1]) throw new UnauthenticatedError("missing bearer token in the authorization header");
  const identity = await deps.verifier.verify(match[1]);
  if (identity.task) {
    if (!deps.taskTokens) throw new UnauthenticatedError("task tokens are not accepted here");
    await deps.taskTokens.checkLive(identity);
  }
  return identity;
}

/** Only a secrets.delegate token may choose the tenant; any other token sending the header is refused, even naming its own tenant. */
function delegate(identity: Identity, header: string | null): Principal {
  const names = identity.secrets ? { globs: identity.secrets } : {};
  if (header === null) return { tenant: identity.tenant, subject: identity.subject, ...names };
  if (!identity.scopes.has("secrets.delegate")) throw new PermissionDeniedError(`the ${DELEGATION_HEADER} header needs scope secrets.delegate`);
  if (!isValidPrincipalId(header)) throw new InvalidArgumentError(DELEGATION_HEADER, "must match ^[A-Za-z0-9_.@:|-]{1,128}$");
  return { tenant: header, subject: identity.subject, delegated: true, ...names };
}

function auditEvent(
  call: CallRecord | undefined,
  method: string,
  identity: Identity | undefined,
  principal: Principal | undefined,
  code: number,
  touched: { names: string[]; versions: number[] },
): Omit<AuditEvent, "id" | "time"> {
  return {
    requestId: call?.requestId ?? "",
    // A call refused before its tenant was settled is recorded under the caller's own tenant;
    // one that failed authentication has neither.
    principal: identity?.subject ?? "",
    tenant: principal?.tenant ?? identity?.tenant ?? "",
    delegated: principal?.delegated ?? false,
    tokenId: identity?.task?.id ?? "",
    tokenLabel: identity?.task?.label ?? "",
    method,
    names: touched.names,
    versions: touched.versions,
    code,
    peerAddress: call?.peerAddress ?? "",
    userAgent: call?.userAgent ?? "",
    mtlsSubject: call?.mtlsSubject ?? "",
    ...(call?.httpCall ? { httpCall: call.httpCall } : {}),
  };
}

/** The event of a call the pipeline never saw (refused at the edge: malformed, oversize): no principal is known. */
export function edgeAuditEvent(call: CallRecord, code: number): Omit<AuditEvent, "id" | "time"> {
  const method = call.method.slice(call.method.lastIndexOf("/") + 1);
  return auditEvent(call, method, undefined, undefined, code, { names: call.name ? [call.name] : [], versions: call.name ? [0] : [] });
}
