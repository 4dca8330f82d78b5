import { expect } from "vitest";
import { InvalidArgumentError } from "../../src/errors.js";

/** Asserts that `call` rejects with InvalidArgumentError naming `argument`, without running (and returning) anything. */
export async function expectArgumentRefused(label: string, argument: string, call: () => Promise<unknown>): Promise<void> {
  const err = await call().then(
    (result) => new Error(`${label} ran and returned ${JSON.stringify(result)}`),
    (e: unknown) => e,
  );
  expect(err, label).toBeInstanceOf(InvalidArgumentError);
  expect((err as InvalidArgumentError).field, label).toBe(argument);
}
