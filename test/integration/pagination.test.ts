import { describeWalk } from "./pagination-walk.js";

// ListSecrets over 3,000 secrets on the real server and FerretDB, walked with page sizes 150 and 111
// (20 and 28 pages, two concurrent readers) while a writer creates secrets on both sides of the
// cursor: enough pages to prove the walk complete, ordered and duplicate-free under writes.
// Not more pages than that: on FerretDB's SQLite backend a page costs a scan of the tenant's
// secrets whatever its size (~1 s at 3,000 on an idle machine). The 10,000-secret walk is
// pagination-10k.long.test.ts (`npm run test:long`).

describeWalk({ seeded: 3_000, pageSizes: [150, 111], label: "page", timeoutMs: 600_000 });
