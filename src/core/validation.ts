import { InvalidArgumentError } from "../errors.js";
import {
  DESCRIPTION_MAX_CHARS,
  METADATA_KEY_MAX_CHARS,
  METADATA_KEY_PATTERN,
  METADATA_MAX_ENTRIES,
  METADATA_VALUE_MAX_CHARS,
  NAME_MAX_CHARS,
  NAME_PATTERN,
  VALUE_MAX_BYTES,
} from "./limits.js";

// Field names in errors are the proto's, so callers can find the field at fault.

/** Length in Unicode code points. */
const chars = (s: string) => [...s].length;

export function validateName(name: string, field = "name"): void {
  if (name.length === 0) throw new InvalidArgumentError(field, "is required");
  if (chars(name) > NAME_MAX_CHARS) throw new InvalidArgumentError(field, `must be at most ${NAME_MAX_CHARS} characters`);
  if (!NAME_PATTERN.test(name)) throw new InvalidArgumentError(field, `must match ${NAME_PATTERN.source}`);
}

export function validateNamePrefix(prefix: string, field = "name_prefix"): void {
  if (prefix === "") return;
  validateName(prefix, field);
}

export function validateValue(value: string, field = "value"): void {
  const bytes = Buffer.byteLength(value, "utf8");
  if (bytes === 0) throw new InvalidArgumentError(field, "must not be empty");
  if (bytes > VALUE_MAX_BYTES) throw new InvalidArgumentError(field, `must be at most ${VALUE_MAX_BYTES} bytes`);
  if (!value.isWellFormed()) throw new InvalidArgumentError(field, "must be valid UTF-8");
}

export function validateDescription(description: string, field = "description"): void {
  if (chars(description) > DESCRIPTION_MAX_CHARS) {
    throw new InvalidArgumentError(field, `must be at most ${DESCRIPTION_MAX_CHARS} characters`);
  }
}

export function validateMetadata(metadata: Readonly<Record<string, string>>, field = "metadata"): void {
  const entries = Object.entries(metadata);
  if (entries.length > METADATA_MAX_ENTRIES) throw new InvalidArgumentError(field, `must have at most ${METADATA_MAX_ENTRIES} entries`);
  for (const [key, value] of entries) {
    if (key.length === 0) throw new InvalidArgumentError(field, "keys must not be empty");
    if (chars(key) > METADATA_KEY_MAX_CHARS) {
      throw new InvalidArgumentError(field, `key "${key.slice(0, 80)}" must be at most ${METADATA_KEY_MAX_CHARS} characters`);
    }
    if (!METADATA_KEY_PATTERN.test(key)) {
      throw new InvalidArgumentError(field, `key "${key.slice(0, 80)}" must match ${METADATA_KEY_PATTERN.source}`);
    }
    if (chars(value) > METADATA_VALUE_MAX_CHARS) {
      throw new InvalidArgumentError(field, `value of "${key}" must be at most ${METADATA_VALUE_MAX_CHARS} characters`);
    }
  }
}
