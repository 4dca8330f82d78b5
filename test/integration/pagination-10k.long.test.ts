import { describeWalk } from "./pagination-walk.js";

// The long run (`npm run test:long`, not part of `npm test` or CI): the pagination properties of
// pagination.test.ts at 10,000 secrets, walked with page sizes 1000 and 333 under a concurrent writer.

describeWalk({ seeded: 10_000, pageSizes: [1000, 333], label: "page10k", timeoutMs: 1_800_000 });
