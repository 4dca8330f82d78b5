import { fromJson, toJson, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  SecretEventType,
  type SecretsService as SecretsServiceDesc,
  type WatchSecretsResponse,
  type WatchSecretsResponseSchema,
} from "../../gen/secrets/v1/secrets_pb.js";
import type { TaskTokens } from "../auth/task-token-service.js";
import { checkWatchNames, type ChangeStream, type WatchEvent, type WatchEventType } from "../core/change-stream.js";
import type { RedactText } from "../core/redact-text.js";
import { TEMPLATE_MAX_DEPTH } from "../core/references.js";
import { resolveReferences, type ValueReads } from "../core/resolve-references.js";
import { FailedPreconditionError, InvalidArgumentError, UnauthenticatedError } from "../errors.js";
import { identityKey, principalKey } from "./context.js";

// Handlers of the agent RPCs: ResolveReferences, RedactText, WatchSecrets. Proto <-> domain only,
// plus the watch's life: it ends with UNAUTHENTICATED when its token expires or is revoked.

export interface AgentHandlerDeps {
  readonly reads: ValueReads;
  readonly redact: RedactText;
  /** Absent: WatchSecrets answers FAILED_PRECONDITION. */
  readonly changes?: ChangeStream;
  readonly taskTokens?: Pick<TaskTokens, "checkLive">;
  /** How often a watch with a task token checks that it is not revoked. */
  readonly revocationCheckMs?: number;
}

type AgentMethods = "resolveReferences" | "redactText" | "watchSecrets";

const MAX_TIMER_MS = 2_147_483_647;

const EVENT_TYPES: Readonly<Record<WatchEventType, SecretEventType>> = {
  created: SecretEventType.CREATED,
  version_added: SecretEventType.VERSION_ADDED,
  updated: SecretEventType.UPDATED,
  version_state_changed: SecretEventType.VERSION_STATE_CHANGED,
  deleted: SecretEventType.DELETED,
  restored: SecretEventType.RESTORED,
  purged: SecretEventType.PURGED,
  heartbeat: SecretEventType.HEARTBEAT,
};

export function agentHandlers(deps: AgentHandlerDeps): Pick<ServiceImpl<typeof SecretsServiceDesc>, AgentMethods> {
  return {
    async resolveReferences(req, ctx) {
      const out = await resolveReferences(deps.reads, principal(ctx), templateJson(req.template), req.allowMissing);
      return { resolved: fromJson(ValueSchema, out.resolved), names: out.names, missing: out.missing };
    },

    async redactText(req, ctx) {
      return deps.redact.redactText(principal(ctx), req.text, req.names);
    },

    // Not a generator: the request is checked before the stream opens, so a refusal is the call's
    // outcome (and its audit event's), not a stream that fails later.
    watchSecrets(req, ctx) {
      const changes = deps.changes;
      if (!changes) throw new FailedPreconditionError("change events are not available on this server");
      const p = principal(ctx);
      checkWatchNames(req.names);
      const stop = new AbortController();
      // Refused here (bad names, too many watches open) rather than once the stream is open.
      const events = changes.watch(p, [...new Set(req.names)], stop.signal);
      return watch(deps, events, stop, ctx);
    },
  };
}

async function* watch(
  deps: AgentHandlerDeps,
  events: AsyncIterable<WatchEvent>,
  stop: AbortController,
  ctx: HandlerContext,
): AsyncGenerator<MessageInitShape<typeof WatchSecretsResponseSchema>> {
  const identity = ctx.values.get(identityKey);
  let ended: string | undefined;
  const end = (why: string) => {
    ended ??= why;
    stop.abort();
  };
  const onAbort = () => stop.abort();
  ctx.signal.addEventListener("abort", onAbort);
  const timers = new Set<NodeJS.Timeout>();
  const exp = identity?.exp;
  if (exp !== undefined) {
    // A timer holds at most 2^31-1 ms (about 24 days): a later expiry is reached in steps.
    const arm = () => {
      const ms = exp * 1000 - Date.now();
      timers.add(ms > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(() => end("the token expired"), Math.max(0, ms)));
    };
    arm();
  }
  if (identity?.task && deps.taskTokens) {
    const taskTokens = deps.taskTokens;
    timers.add(
      setInterval(() => {
        taskTokens.checkLive(identity).catch((err: unknown) => {
          if (err instanceof UnauthenticatedError) end("the task token was revoked");
        });
      }, deps.revocationCheckMs ?? 1_000),
    );
  }
  try {
    for await (const e of events) {
      const event: WatchSecretsResponse["event"] = {
        $typeName: "secrets.v1.SecretEvent",
        name: e.name,
        version: BigInt(e.version),
        type: EVENT_TYPES[e.type],
        eventTime: timestampFromDate(e.time),
      };
      yield { event };
    }
    if (ended) throw new UnauthenticatedError(`${ended}; the watch ended`);
  } finally {
    for (const t of timers) clearTimeout(t);
    ctx.signal.removeEventListener("abort", onAbort);
  }
}

function principal(ctx: HandlerContext) {
  const p = ctx.values.get(principalKey);
  if (!p) throw new UnauthenticatedError("not authenticated");
  return p;
}

/** The template as JSON, refused (naming the field) when it is absent, too deep or not representable. */
function templateJson(template: Value | undefined): JsonValue {
  if (!template) throw new InvalidArgumentError("template", "is required (any JSON value, null included)");
  if (deeperThan(template, TEMPLATE_MAX_DEPTH)) throw new InvalidArgumentError("template", `is nested deeper than ${TEMPLATE_MAX_DEPTH} levels`);
  try {
    return toJson(ValueSchema, template);
  } catch {
    // A Value with no kind, or a number JSON cannot hold (NaN, Infinity).
    throw new InvalidArgumentError("template", "holds a value that is not JSON (a Value without a kind, NaN or an infinite number)");
  }
}

/** Walks the message iteratively, so a hostile depth cannot exhaust the stack. */
function deeperThan(root: Value, max: number): boolean {
  const stack: [Value, number][] = [[root, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (depth > max) return true;
    const kind = v.kind;
    if (kind.case === "listValue") for (const item of kind.value.values) stack.push([item, depth + 1]);
    else if (kind.case === "structValue") for (const item of Object.values(kind.value.fields)) stack.push([item, depth + 1]);
  }
  return false;
}
