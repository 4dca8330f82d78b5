import { durationFromMs, timestampFromDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { parseDurationSeconds } from "../../config/config.js";
import { UsageError } from "./exit-codes.js";

/** "30m", "12h", "7d" (as the server's settings take them). */
export function durationFlag(flag: string, text: string): Duration {
  const seconds = parseDurationSeconds(text);
  if (seconds === undefined || seconds === 0) throw new UsageError(`${flag}: "${text}" is not a duration like 90s, 30m, 12h or 7d`);
  return durationFromMs(seconds * 1000);
}

/** An RFC 3339 time ("2027-01-31T00:00:00Z"), or a duration from now ("7d"; "ago": that long before now). */
export function timeFlag(flag: string, text: string, durationIs: "ahead" | "ago" = "ahead"): Timestamp {
  const seconds = parseDurationSeconds(text);
  if (seconds !== undefined && seconds > 0) {
    return timestampFromDate(new Date(Date.now() + (durationIs === "ago" ? -seconds : seconds) * 1000));
  }
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.test(text)) {
    throw new UsageError(`${flag}: "${text}" is neither an RFC 3339 time (2027-01-31T00:00:00Z) nor a duration (${durationIs === "ago" ? "1h: an hour ago" : "7d: a week from now"})`);
  }
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new UsageError(`${flag}: "${text}" is not a real time`);
  return timestampFromDate(date);
}
