import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { LocalKeyProvider } from "../../src/adapters/local-kms/local-key-provider.js";
import { MemorySecretStore } from "../../src/adapters/memory/memory-secret-store.js";
import { isValidPrincipalId, validatePrincipal, type Principal } from "../../src/core/principal.js";
import type { SecretsService } from "../../src/core/secrets-service.js";
import { UnauthenticatedError } from "../../src/errors.js";
import { coreOver, createInput, principal, valueUpdate } from "../helpers/core.js";

// One principal rule, shared by token verification and the core.

const valid = ["a", "dev_a", "tenant-1", "alice@example.com", "org:team|agent.7", "A".repeat(128), "_.@:|-"];
const invalid: [label: string, value: unknown][] = [
  ["empty", ""],
  ["129 characters", "a".repeat(129)],
  ["a space", "dev a"],
  ["a slash", "dev/a"],
  ["a NUL", "dev\u0000a"],
  ["a newline", "dev_a\n"],
  ["a dollar", "$ne"],
  ["braces", "{}"],
  ["non-ASCII", "dév"],
  ["an array", ["dev_a"]],
  ["an object", { $ne: null }],
  ["a number", 42],
  ["null", null],
  ["undefined", undefined],
];

describe("principal ids", () => {
  it.each(valid)("accepts %j", (id) => {
    expect(isValidPrincipalId(id)).toBe(true);
    expect(() => validatePrincipal({ tenant: id, subject: id })).not.toThrow();
  });

  it.each(invalid)("refuses %s, as tenant and as subject", (_label, id) => {
    expect(isValidPrincipalId(id)).toBe(false);
    expect(() => validatePrincipal({ tenant: id, subject: "alice" })).toThrow(UnauthenticatedError);
    expect(() => validatePrincipal({ tenant: "dev_a", subject: id })).toThrow(UnauthenticatedError);
  });

  it("refuses something that is not a principal at all, without quoting what it got", () => {
    expect(() => validatePrincipal(undefined)).toThrow(UnauthenticatedError);
    expect(() => validatePrincipal("dev_a")).toThrow(UnauthenticatedError);
    expect(() => validatePrincipal({ tenant: { $ne: null }, subject: "x" })).toThrow(/^principal tenant is not a valid principal id$/);
  });
});

/** Every SecretsService operation (the compiler checks none is left out), called as principal p. */
function everyOperation(service: SecretsService): Record<keyof SecretsService, (p: Principal) => Promise<unknown>> {
  return {
    createSecret: (p) => service.createSecret(p, createInput("planted", "v")),
    getSecret: (p) => service.getSecret(p, "kept"),
    getSecretValue: (p) => service.getSecretValue(p, "kept", 0),
    batchGetSecretValues: (p) => service.batchGetSecretValues(p, ["kept"]),
    listSecrets: (p) => service.listSecrets(p, { pageSize: 0, pageToken: "", namePrefix: "", metadataFilter: {} }),
    updateSecret: (p) => service.updateSecret(p, valueUpdate("kept", "overwritten")),
    putSecretValue: (p) => service.putSecretValue(p, { name: "kept", value: "overwritten", etag: "", requestId: "" }),
    listSecretVersions: (p) => service.listSecretVersions(p, { name: "kept", pageSize: 0, pageToken: "" }),
    setVersionState: (p) => service.setVersionState(p, { name: "kept", version: 1, etag: "" }, "disabled"),
    deleteSecret: (p) => service.deleteSecret(p, { name: "kept", force: true, recoveryWindowDays: 0, etag: "" }),
    restoreSecret: (p) => service.restoreSecret(p, { name: "kept", etag: "" }),
  };
}

describe("the core refuses an invalid principal at the entry of every operation", () => {
  const badPrincipals: [label: string, p: unknown][] = [
    ["tenant as an array", { tenant: ["dev_a"], subject: "alice" }],
    ["tenant as an object", { tenant: { $ne: null }, subject: "alice" }],
    ["tenant with a slash", { tenant: "dev_a/x", subject: "alice" }],
    ["empty tenant", { tenant: "", subject: "alice" }],
    ["subject as an array", { tenant: "dev_a", subject: ["alice"] }],
    ["subject as an object", { tenant: "dev_a", subject: { $ne: null } }],
    ["no principal", undefined],
  ];

  it("answers UnauthenticatedError and reads or changes nothing", async () => {
    const store = new MemorySecretStore();
    const service = coreOver(store, new LocalKeyProvider(new Map([["k1", randomBytes(32)]]), "k1"));
    const owner = principal("dev_a", "alice");
    await service.createSecret(owner, createInput("kept", "crown jewels"));
    const before = await service.getSecret(owner, "kept");

    const operations = Object.entries(everyOperation(service));
    expect(operations).toHaveLength(11);
    for (const [operation, call] of operations) {
      for (const [label, p] of badPrincipals) {
        await expect(call(p as Principal), `${operation} with ${label}`).rejects.toBeInstanceOf(UnauthenticatedError);
      }
    }
    expect(await service.getSecret(owner, "kept")).toEqual(before);
    expect((await service.getSecretValue(owner, "kept", 0)).value).toBe("crown jewels");
    expect(await store.findSecret("dev_a", "planted")).toBeUndefined();
  });
});
