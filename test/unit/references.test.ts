import type { JsonValue } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../src/errors.js";
import {
  referenceKey,
  resolveTemplate,
  scanTemplate,
  TEMPLATE_MAX_BYTES,
  TEMPLATE_MAX_DEPTH,
  TEMPLATE_MAX_NAMES,
} from "../../src/core/references.js";

const VALUES = new Map([
  ["a", "A"],
  ["b", "B"],
  ["api", "API"],
  ["api_key", "KEY"],
  ["a@1", "A1"],
  ["a@7", "A7"],
]);

const resolve = (template: JsonValue, values: ReadonlyMap<string, string> = VALUES) => resolveTemplate(template, values);
const keys = (template: JsonValue) => scanTemplate(template).references.map(referenceKey);

function nested(depth: number, leaf: JsonValue = "$ secrets.a"): JsonValue {
  let value: JsonValue = leaf;
  for (let level = 1; level < depth; level += 1) value = [value];
  return value;
}

function refusal(run: () => unknown): InvalidArgumentError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe("template");
    return error as InvalidArgumentError;
  }
  throw new Error("expected an InvalidArgumentError");
}

describe("secret reference forms", () => {
  it.each([
    ["$ secrets.a", "A"],
    ["$ secrets['a']", "A"],
    ['$ secrets["a"]', "A"],
    ["secret://a", "A"],
    ["secret://a@1", "A1"],
    ["{{ secrets.a }}", "A"],
    ["{{secrets.a}}", "A"],
    ["x{{\tsecrets.a\n}}y", "xAy"],
    ["$ f'{secrets.a}'", "A"],
    ["$ f'pre {secrets.a}-{ secrets.b } post'", "pre A-B post"],
    [`$ f"{secrets['a']} and {secrets['b']}"`, "A and B"],
    [`$ f'{ secrets["a"] }'`, "A"],
    ["$ f\"it's {secrets.a}\"", "it's A"],
    ["$ f'{{literal}} {secrets.a} }}{{'", "{literal} A }{"],
    ["{{{ secrets.a }}}", "{A}"],
  ])("resolves %j", (template, expected) => {
    expect(resolve(template)).toBe(expected);
  });

  it("interpolates every reference in a mixed string, telling look-alike names apart", () => {
    expect(resolve("Bearer {{ secrets.api }} and {{secrets.api_key}}")).toBe("Bearer API and KEY");
    expect(resolve("{{ secrets.api }}x{{ secrets.api }}")).toBe("APIxAPI");
    expect(keys("Bearer {{ secrets.api }} and {{secrets.api_key}}")).toEqual(["api", "api_key"]);
    expect(resolve("$ secrets.api_key")).toBe("KEY");
  });

  it.each([
    "$ inputs.x",
    "$ secrets.a + 'x'",
    "$ secrets.a ",
    "$ secrets.a.b",
    "$ secrets['a\"]",
    "$ secrets[a]",
    "$ f'{inputs.x}'",
    "$ f'{secrets.a} {inputs.b}'",
    "$ f'{secrets.a!r}'",
    "$ f'{secrets.a}' + 'x'",
    "$ f'it's {secrets.a}'",
    `$ f"{secrets["a"]}"`,
    "$ f'plain'",
    "$ f''",
    "$ f'",
    "$ f'{secrets.a} }'",
    "$ f'{secrets.a} {'",
    "$ F'{secrets.a}'",
    "$ {{ secrets.a }}",
    "$ 'x' + '{{ secrets.a }}'",
    " $ secrets.a",
    "$secrets.a",
    "secret:// a",
    " secret://a",
    "secret://a ",
    "secret://a@0",
    "secret://a@01",
    "secret://a@",
    "secret://a@-1",
    "secret://a@1.0",
    "secret://1a",
    "SECRET://a",
    "{{ secrets.a }",
    "{ secrets.a }}",
    "{{ secrets.a-b }}",
    "{{ secrets. a }}",
    "{{ Secrets.a }}",
    "{{ secrets.1a }}",
    "{{ secrets['a'] }}",
  ])("leaves %j unchanged and finds no reference in it", (template) => {
    expect(resolve(template)).toBe(template);
    expect(scanTemplate(template).references).toEqual([]);
  });

  it("accepts a name of 128 characters and ignores one of 129", () => {
    const ok = `n${"x".repeat(127)}`;
    const long = `n${"x".repeat(128)}`;
    const values = new Map([[ok, "V"], [long, "W"]]);
    for (const form of [(n: string) => `$ secrets.${n}`, (n: string) => `secret://${n}`, (n: string) => `{{ secrets.${n} }}`, (n: string) => `$ f'{secrets.${n}}'`]) {
      expect(resolve(form(ok), values)).toBe("V");
      expect(resolve(form(long), values)).toBe(form(long));
    }
  });

  it("names are case-sensitive", () => {
    expect(resolve("$ secrets.A")).toBe("$ secrets.A");
    expect(keys(["$ secrets.A", "$ secrets.a"])).toEqual(["A", "a"]);
  });

  it("pins a version only from secret://NAME@VERSION", () => {
    expect(scanTemplate(["secret://a@7", "secret://a", "$ secrets.a"]).references).toEqual([{ name: "a", version: 7 }, { name: "a" }]);
    expect(resolve("secret://a@7")).toBe("A7");
    expect(resolve(`secret://a@${Number.MAX_SAFE_INTEGER}`, new Map([[`a@${Number.MAX_SAFE_INTEGER}`, "M"]]))).toBe("M");
  });

  it("refuses a version beyond a safe integer", () => {
    const error = refusal(() => scanTemplate({ k: "secret://a@9007199254740992" }));
    expect(error.message).toMatch(/version/);
    refusal(() => resolve(`secret://a@1${"0".repeat(400)}`));
  });
});

describe("walking a template", () => {
  it("resolves inside nested arrays and objects, keeps keys, order and scalars", () => {
    const template: JsonValue = {
      "$ secrets.a": "{{ secrets.a }}",
      "{{ secrets.b }}": [1, true, null, ["$ secrets.b", { deep: "secret://a@1" }]],
      z: 2.5,
      a: "",
    };
    const out = resolve(template);
    expect(out).toEqual({
      "$ secrets.a": "A",
      "{{ secrets.b }}": [1, true, null, ["B", { deep: "A1" }]],
      z: 2.5,
      a: "",
    });
    expect(Object.keys(out as object)).toEqual(["$ secrets.a", "{{ secrets.b }}", "z", "a"]);
    expect(keys(template)).toEqual(["a", "b", "a@1"]);
  });

  it("does not mutate its input and returns a new value", () => {
    const template: JsonValue = { list: ["$ secrets.a", "plain"], n: 1 };
    const copy = structuredClone(template);
    const out = resolve(template) as { list: JsonValue[] };
    expect(template).toEqual(copy);
    expect(out).not.toBe(template);
    expect(out.list).not.toBe((template as { list: JsonValue[] }).list);
  });

  it("keeps a __proto__ key as an own key", () => {
    const template = JSON.parse('{"__proto__": "$ secrets.a", "x": 1}') as JsonValue;
    const out = resolve(template) as Record<string, JsonValue>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(out, "__proto__")?.value).toBe("A");
  });

  it("resolves scalar roots", () => {
    expect(resolve("$ secrets.a")).toBe("A");
    expect(resolve(3)).toBe(3);
    expect(resolve(null)).toBe(null);
    expect(scanTemplate(false).references).toEqual([]);
  });

  it("never re-scans a resolved value", () => {
    const values = new Map([["a", "{{ secrets.b }}"], ["b", "B"], ["c", "$ secrets.b"]]);
    expect(resolve("x {{ secrets.a }} {{ secrets.b }}", values)).toBe("x {{ secrets.b }} B");
    expect(resolve("$ secrets.c", values)).toBe("$ secrets.b");
    expect(resolve("$ f'{secrets.a}'", values)).toBe("{{ secrets.b }}");
  });

  it("leaves a string wholly unchanged when any of its references is missing", () => {
    const values = new Map([["a", "A"]]);
    expect(resolve(["{{ secrets.a }} {{ secrets.gone }}", "{{ secrets.a }}", "secret://a@2", "$ f'{secrets.a}{secrets.gone}'"], values)).toEqual([
      "{{ secrets.a }} {{ secrets.gone }}",
      "A",
      "secret://a@2",
      "$ f'{secrets.a}{secrets.gone}'",
    ]);
  });

  it("keeps unicode around references", () => {
    expect(resolve("🔑 {{ secrets.a }} — ünïcødé {{ secrets.b }}😀")).toBe("🔑 A — ünïcødé B😀");
    expect(resolve("$ f'日本{secrets.a}語'")).toBe("日本A語");
    expect(resolve("{{ secrets.a }}", new Map([["a", "值🙂"]]))).toBe("值🙂");
  });
});

describe("scanning", () => {
  it("lists distinct references in first-seen order and distinct names sorted", () => {
    const scanned = scanTemplate(["{{ secrets.b }}", { k: "secret://a@3" }, "$ secrets.b", "secret://a", "secret://a@3"]);
    expect(scanned.references).toEqual([{ name: "b" }, { name: "a", version: 3 }, { name: "a" }]);
    expect(scanned.names).toEqual(["a", "b"]);
  });

  it("keys references by name, or name@version", () => {
    expect(referenceKey({ name: "a" })).toBe("a");
    expect(referenceKey({ name: "a", version: 3 })).toBe("a@3");
  });
});

describe("limits", () => {
  it("exports the limits", () => {
    expect([TEMPLATE_MAX_DEPTH, TEMPLATE_MAX_NAMES, TEMPLATE_MAX_BYTES]).toEqual([32, 100, 1_048_576]);
  });

  it("counts depth from a scalar root of 1", () => {
    expect(() => scanTemplate(nested(32))).not.toThrow();
    expect(resolve(nested(32))).toEqual(nested(32, "A"));
    const error = refusal(() => scanTemplate(nested(33)));
    expect(error.message).toMatch(/32/);
    refusal(() => resolve(nested(33)));
    // An empty container counts as a level too.
    let empty: JsonValue = {};
    for (let level = 1; level < 33; level += 1) empty = { k: empty };
    refusal(() => scanTemplate(empty));
  });

  it("refuses hostile nesting without walking it all", () => {
    let visited = 0;
    let hostile: JsonValue = "secret://a";
    for (let level = 0; level < 100_000; level += 1) hostile = [hostile];
    // A proxy on the outer 40 levels counts how deep the walk goes.
    const counted = (value: JsonValue, levels: number): JsonValue =>
      levels === 0
        ? value
        : new Proxy([counted((value as JsonValue[])[0]!, levels - 1)], {
            get(target, key, receiver) {
              if (key === "map") visited += 1;
              return Reflect.get(target, key, receiver) as unknown;
            },
          });
    refusal(() => scanTemplate(counted(hostile, 40)));
    expect(visited).toBe(32);
    refusal(() => resolve(hostile));
  });

  it("accepts 100 distinct names and refuses 101", () => {
    const names = (count: number) => Array.from({ length: count }, (_, i) => `$ secrets.n${i}`);
    expect(scanTemplate(names(100)).names).toHaveLength(100);
    const error = refusal(() => scanTemplate(names(101)));
    expect(error.message).toMatch(/100/);
  });

  it("counts pinned and unpinned references of one name as one name", () => {
    const template = Array.from({ length: 100 }, (_, i) => [`secret://n${i}`, `secret://n${i}@1`, `{{ secrets.n${i} }}`]);
    const scanned = scanTemplate(template);
    expect(scanned.names).toHaveLength(100);
    expect(scanned.references).toHaveLength(200);
  });
});

describe("hostile strings of 1 MiB complete", () => {
  const big = (text: string) => text.repeat(Math.ceil(TEMPLATE_MAX_BYTES / text.length)).slice(0, TEMPLATE_MAX_BYTES);

  it.each([
    ["braces", big("{")],
    ["braces after $", `$ ${big("{")}`],
    ["an f-string of braces", `$ f'${big("{")}`],
    ["a closed f-string of doubled braces", `$ f'${big("{{")}'`],
    ["an unclosed placeholder", `$ f'{${big("a")}'`],
    ["a long secret:// name", `secret://${big("a")}`],
    ["a long secret:// version", `secret://a@${big("9")}x`],
    ["mustaches without names", big("{{ secrets.")],
    ["mustaches with long names", big(`{{ secrets.${"a".repeat(200)}`)],
    ["mustaches with spaces", big("{{          ")],
    ["a long $ secrets name", `$ secrets.${big("a")}`],
  ])("%s", (_label, text) => {
    expect(resolve(text)).toBe(text);
  });

  it("many references in one string", () => {
    const text = big("{{ secrets.a }}");
    const out = resolve(text) as string;
    expect(out.startsWith("AAAA")).toBe(true);
    expect(out).not.toContain("secrets");
  });
});
