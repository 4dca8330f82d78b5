import { BSON, MongoClient, type Db, type Document } from "mongodb";
import { mongoUriFor } from "./services.js";

// Reads the documents a MongoDB-backed test server wrote, bypassing the service,
// so tests can check what storage really holds (erasure, purges), and overwrites
// sealed fields the way someone with write access to the database could.

/** The stored bytes of a secret's or a version's sealed value. */
export interface RawSealed {
  readonly wrappedKey: Buffer;
  readonly ciphertext: Buffer;
}

export interface RawDocuments {
  /** The `secrets` document of (tenant, name), any state. */
  secretDoc(tenant: string, name: string): Promise<Document | null>;
  /** The id of the current incarnation of (tenant, name); fails when there is none. */
  secretIdOf(tenant: string, name: string): Promise<string>;
  /** The `secret_versions` document `<secretId>:<version>`. */
  versionDoc(secretId: string, version: number): Promise<Document | null>;
  /** Overwrites the copy of the current version's sealed value on the `secrets` document of (tenant, name). */
  setCurrentSealed(tenant: string, name: string, sealed: Document): Promise<void>;
  /** Overwrites the sealed value of the `secret_versions` document `<secretId>:<version>`. */
  setVersionSealed(secretId: string, version: number, sealed: Document): Promise<void>;
  /** How many documents of one secret id each collection holds. */
  countsFor(secretId: string): Promise<{ secrets: number; versions: number; claims: number }>;
  /** Every document that mentions the secret id, serialised, to search for stray bytes. */
  serialisedDocsOf(secretId: string): Promise<Buffer[]>;
  close(): Promise<void>;
}

/** The wrapped key and ciphertext of a stored `sealed` sub-document. */
export function rawSealedOf(sealed: Document): RawSealed {
  return { wrappedKey: Buffer.from(sealed.wk.buffer), ciphertext: Buffer.from(sealed.ct.buffer) };
}

export async function openRawDocuments(db: string | undefined): Promise<RawDocuments> {
  if (!db) throw new Error("raw documents need a MongoDB-backed test server");
  const client = new MongoClient(mongoUriFor(db), { serverSelectionTimeoutMS: 5_000 });
  await client.connect();
  const database: Db = client.db(db);
  const secrets = database.collection<Document>("secrets");
  const versions = database.collection<Document>("secret_versions");
  const claims = database.collection<Document>("secret_claims");

  return {
    secretDoc: (tenant, name) => secrets.findOne({ tenant, name }),
    async secretIdOf(tenant, name) {
      const doc = await secrets.findOne({ tenant, name }, { projection: { sid: 1 } });
      if (!doc) throw new Error(`no secrets document for ${tenant}/${name}`);
      return String(doc.sid);
    },
    versionDoc: (secretId, version) => versions.findOne({ _id: `${secretId}:${version}` } as Document),
    async setCurrentSealed(tenant, name, sealed) {
      const { matchedCount } = await secrets.updateOne({ tenant, name }, { $set: { "current.sealed": sealed } });
      if (matchedCount !== 1) throw new Error(`no secrets document for ${tenant}/${name}`);
    },
    async setVersionSealed(secretId, version, sealed) {
      const { matchedCount } = await versions.updateOne({ _id: `${secretId}:${version}` } as Document, { $set: { sealed } });
      if (matchedCount !== 1) throw new Error(`no secret_versions document ${secretId}:${version}`);
    },
    async countsFor(secretId) {
      const [s, v, c] = await Promise.all([
        secrets.countDocuments({ sid: secretId }),
        versions.countDocuments({ secretId }),
        claims.countDocuments({ secretId }),
      ]);
      return { secrets: s, versions: v, claims: c };
    },
    async serialisedDocsOf(secretId) {
      const docs = [
        ...(await secrets.find({ sid: secretId }).toArray()),
        ...(await versions.find({ secretId }).toArray()),
        ...(await claims.find({ secretId }).toArray()),
      ];
      return docs.map((d) => Buffer.from(BSON.serialize(d)));
    },
    close: () => client.close(),
  };
}
