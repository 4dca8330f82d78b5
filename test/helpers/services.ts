import { randomBytes } from "node:crypto";
import { MongoClient } from "mongodb";

// Where the real backing services are (started by `npm run services:up`).
// Defaults match scripts/services.sh; tests fail, never skip, when they are down.

export const services = {
  mongoUri: process.env.MONGODB_URI ?? "mongodb://127.0.0.1:27017/secrets",
  redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  kmsEndpoint: process.env.KMS_ENDPOINT ?? "http://127.0.0.1:4566",
  kmsKeyId: process.env.KMS_KEY_ID ?? "alias/secrets-service",
  region: process.env.AWS_REGION ?? "us-east-1",
  grpcurl: process.env.GRPCURL ?? `${process.env.HOME}/.cache/secrets-service/bin/grpcurl`,
};

/** A fresh database name per test file, so files run in parallel without sharing state. */
export function freshDbName(label: string): string {
  return `test_${label}_${randomBytes(4).toString("hex")}`;
}

/** The MongoDB URI of the services, pointing at the given database. */
export function mongoUriFor(db: string): string {
  const url = new URL(services.mongoUri);
  url.pathname = `/${db}`;
  return url.toString();
}

export async function dropDatabase(db: string): Promise<void> {
  const client = new MongoClient(services.mongoUri, { serverSelectionTimeoutMS: 5_000 });
  try {
    await client.connect();
    await client.db(db).dropDatabase();
  } finally {
    await client.close();
  }
}

export function kmsCredentials() {
  return {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "test",
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "test",
  };
}

/** The environment a service process needs for the services' KMS, reached at `endpoint` (e.g. through a proxy). */
export function kmsProcessEnv(endpoint: string = services.kmsEndpoint): Record<string, string> {
  const creds = kmsCredentials();
  return {
    KEY_PROVIDER: "aws-kms",
    KMS_ENDPOINT: endpoint,
    KMS_KEY_ID: services.kmsKeyId,
    AWS_REGION: services.region,
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
  };
}
