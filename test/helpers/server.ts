import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { pino } from "pino";
import { createApp, type App } from "../../src/app.js";
import { mintToken } from "../../src/auth/dev-token.js";
import { createTokenVerifier } from "../../src/auth/token-verifier.js";
import { systemClock } from "../../src/ports/clock.js";
import type { KeyProvider } from "../../src/ports/key-provider.js";
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from "../../src/config/config.js";
import type { RunningServer } from "../../src/transport/server.js";
import { openKeys, openStore, type KeysKind, type StoreFixture, type StoreKind } from "./adapters.js";

export interface TestServer {
  readonly app: App;
  readonly server: RunningServer;
  readonly fixture: StoreFixture;
  readonly keys: KeyProvider;
  /** http://127.0.0.1:PORT */
  readonly baseUrl: string;
  /** 127.0.0.1:PORT */
  readonly target: string;
  readonly jwtSecret: string;
  /** Every log line the server wrote. */
  readonly logLines: string[];
  token(developer: string, subject?: string): Promise<string>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  store?: StoreKind;
  keys?: KeysKind;
  label?: string;
  maxRequestBytes?: number;
  pendingVersionLeaseMs?: number;
  /** Connection limits to override (the rest keep their defaults). */
  limits?: Partial<ConnectionLimits>;
  tls?: { cert: Buffer; key: Buffer };
}

/** The real app on 127.0.0.1, port 0, over real adapters. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const fixture = await openStore(options.store ?? "mongodb", options.label ?? "rpc");
  const keys = openKeys(options.keys ?? "local");
  const jwtSecret = randomBytes(32).toString("base64url");
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  const app = createApp({
    store: fixture.store,
    idempotency: fixture.idempotency,
    keys,
    verifier: await createTokenVerifier({ hmacSecret: jwtSecret, algorithms: ["HS256"] }),
    clock: systemClock,
    logger: pino({ level: "info" }, sink),
    maxRequestBytes: options.maxRequestBytes ?? 262_144,
    pendingVersionLeaseMs: options.pendingVersionLeaseMs ?? 30_000,
    limits: { ...DEFAULT_CONNECTION_LIMITS, ...options.limits },
    ...(options.tls ? { tls: options.tls } : {}),
  });
  const server = await app.listen("127.0.0.1", 0);
  const target = `127.0.0.1:${server.address.port}`;
  return {
    app,
    server,
    fixture,
    keys,
    baseUrl: `http://${target}`,
    target,
    jwtSecret,
    logLines,
    token: (developer, subject) => mintToken(jwtSecret, { sub: subject ?? `${developer}-user`, developer_id: developer }),
    async close() {
      await server.close(1_000);
      await keys.close();
      await fixture.dispose();
    },
  };
}
