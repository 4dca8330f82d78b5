import { describe, expect, it } from "vitest";
import { planRequest, PROXY_MAX_RENDERED_BYTES } from "../../src/core/proxy-substitution.js";

// Where ProxyHttpRequest's references are replaced, and how each place escapes a value.

const json = [{ name: "content-type", value: "application/json" }];
const render = (url: string, headers: { name: string; value: string }[], body: string, values: Record<string, string>) =>
  planRequest(new URL(url), headers, Buffer.from(body)).render(new Map(Object.entries(values)));

describe("planRequest", () => {
  it("JSON: string values are replaced and escaped; keys, numbers and spacing are kept byte for byte", () => {
    const body = '{ "{{ secrets.k }}": "{{ secrets.k }}",\n  "n": 1.50e3, "a": ["x\\"{{ secrets.k }}"] }';
    const out = render("https://h.test/", json, body, { k: 'q"\\\n' });
    expect(out.body.toString()).toBe('{ "{{ secrets.k }}": "q\\"\\\\\\n",\n  "n": 1.50e3, "a": ["x\\"q\\"\\\\\\n"] }');
    expect(JSON.parse(out.body.toString())).toEqual({ "{{ secrets.k }}": 'q"\\\n', n: 1500, a: ['x"q"\\\n'] });
  });

  it("a value is never scanned again: one that looks like a reference stays as it is", () => {
    const out = render("https://h.test/?a={{ secrets.k }}", [{ name: "x", value: "{{ secrets.k }}" }], "", { k: "{{ secrets.other }}" });
    expect(out.headers[0]!.value).toBe("{{ secrets.other }}");
    expect(out.url.search).toBe(`?a=${encodeURIComponent("{{ secrets.other }}")}`);
  });

  it("query: values percent-encoded, other pairs and names untouched, the fragment dropped", () => {
    const out = render("https://h.test/p?{{ secrets.k }}=1&b=%2F%20&c={{ secrets.k }}#frag", [], "", { k: "a&b=c d" });
    expect(out.url.href).toBe("https://h.test/p?{{%20secrets.k%20}}=1&b=%2F%20&c=a%26b%3Dc%20d");
  });

  it("the references found, distinct, pinned versions apart", () => {
    const plan = planRequest(new URL("https://h.test/?a={{ secrets.k }}"), [{ name: "x", value: "secret://k@2" }, { name: "y", value: "$ secrets.j" }], Buffer.from(""));
    expect(plan.references).toEqual([{ name: "k" }, { name: "k", version: 2 }, { name: "j" }]);
  });

  it("refuses a reference in the path, and a rendered request over the bound", () => {
    expect(() => planRequest(new URL("https://h.test/{{ secrets.k }}"), [], Buffer.from(""))).toThrow(/^url: holds a secret reference in its path/);
    const plan = planRequest(new URL("https://h.test/"), [{ name: "content-type", value: "text/plain" }], Buffer.from("{{ secrets.k }}".repeat(200)));
    expect(() => plan.render(new Map([["k", "v".repeat(64 * 1024)]]))).toThrow(`body: with the secrets put in, the request is larger than ${PROXY_MAX_RENDERED_BYTES} bytes`);
  });
});
