import type { TaskTokenRecord } from "../ports/task-token-store.js";
import { checkDate, checkString, checkStrings } from "./store-arguments.js";

// The checks of store-arguments.ts, for a task token record: every field is stored and the id and
// tenant are matched by later filters, so none may be an array or an object.

export function checkTaskTokenRecord(r: TaskTokenRecord): void {
  checkString("record.id", r.id);
  checkString("record.tenant", r.tenant);
  checkString("record.subject", r.subject);
  checkString("record.label", r.label);
  checkStrings("record.scopes", r.scopes);
  checkStrings("record.secrets", r.secrets);
  checkDate("record.createTime", r.createTime);
  checkDate("record.expireTime", r.expireTime);
  if (r.revokeTime !== undefined) checkDate("record.revokeTime", r.revokeTime);
}
