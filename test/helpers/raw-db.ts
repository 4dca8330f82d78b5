import { BSON, MongoClient, type Db, type Document } from "mongodb";
import { mongoUriFor } from "./services.js";

// Direct access to a test database, below the store: for checks on what is
// really stored (leftovers, traces, plaintext), never for the service's own reads.

export interface RawDb {
  readonly db: Db;
  /** Every document of every collection, by collection name. */
  dump(): Promise<Map<string, Document[]>>;
  /** Every document of every collection as canonical Extended JSON (binaries as base64). */
  dumpText(): Promise<string>;
  close(): Promise<void>;
}

export async function openRawDb(name: string): Promise<RawDb> {
  const client = new MongoClient(mongoUriFor(name), { serverSelectionTimeoutMS: 5_000 });
  await client.connect();
  const db = client.db(name);
  async function dump(): Promise<Map<string, Document[]>> {
    const out = new Map<string, Document[]>();
    for (const c of await db.listCollections({}, { nameOnly: true }).toArray()) {
      out.set(c.name, await db.collection(c.name).find({}).toArray());
    }
    return out;
  }
  return {
    db,
    dump,
    async dumpText() {
      const all = await dump();
      return [...all].map(([name, docs]) => `${name}: ${BSON.EJSON.stringify(docs, { relaxed: false })}`).join("\n");
    },
    close: () => client.close(),
  };
}
