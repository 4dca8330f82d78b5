// Makes sure the local KMS emulator has the service's symmetric key behind KMS_KEY_ALIAS, and prints
// the key id. Run by scripts/services.sh after LocalStack answers; safe to run any number of times.
//
// LocalStack's community edition keeps no state across restarts. So that ciphertexts stored before a
// restart still open after it, the key is created from a seed kept under the cache (a key id and 32
// bytes of key material, made once at random) through LocalStack's `_custom_id_` and
// `_custom_key_material_` tags: every restart brings back the same key.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  EnableKeyCommand,
  KMSClient,
  ListAliasesCommand,
} from "@aws-sdk/client-kms";

const required = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`kms-init: ${name} is not set`);
  return value;
};

const aliasName = required("KMS_KEY_ALIAS");
const seedFile = required("KMS_KEY_SEED_FILE");
const kms = new KMSClient({
  endpoint: required("KMS_ENDPOINT"),
  region: required("AWS_REGION"),
  credentials: {
    accessKeyId: required("AWS_ACCESS_KEY_ID"),
    secretAccessKey: required("AWS_SECRET_ACCESS_KEY"),
  },
});

async function loadOrCreateSeed(path) {
  try {
    const seed = JSON.parse(await readFile(path, "utf8"));
    if (typeof seed.keyId === "string" && Buffer.from(seed.keyMaterial ?? "", "base64").length === 32) return seed;
    throw new Error(`kms-init: ${path} is not a key seed; remove it to make a new key`);
  } catch (error) {
    if (error?.code !== "ENOENT") throw error;
  }
  const seed = { keyId: randomUUID(), keyMaterial: randomBytes(32).toString("base64") };
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(seed)}\n`, { mode: 0o600, flag: "wx" });
  return seed;
}

async function findAliasTarget(name) {
  let marker;
  do {
    const page = await kms.send(new ListAliasesCommand({ Marker: marker }));
    const found = page.Aliases?.find((alias) => alias.AliasName === name);
    if (found) return found.TargetKeyId;
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker);
  return undefined;
}

async function describeKey(keyId) {
  try {
    return (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata;
  } catch (error) {
    if (error?.name === "NotFoundException") return undefined;
    throw error;
  }
}

// A test that disabled the key or scheduled its deletion must not break the next run.
async function ensureEnabled(key) {
  if (key.KeyState === "PendingDeletion") await kms.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId }));
  if (key.KeyState === "PendingDeletion" || key.KeyState === "Disabled") {
    await kms.send(new EnableKeyCommand({ KeyId: key.KeyId }));
  }
}

async function main() {
  const target = await findAliasTarget(aliasName);
  if (target) {
    const key = await describeKey(target);
    if (!key) throw new Error(`kms-init: ${aliasName} points at ${target}, which does not exist`);
    await ensureEnabled(key);
    return key.KeyId;
  }
  const seed = await loadOrCreateSeed(seedFile);
  let key = await describeKey(seed.keyId);
  if (!key) {
    const created = await kms.send(
      new CreateKeyCommand({
        Description: "secrets-service local test key",
        KeySpec: "SYMMETRIC_DEFAULT",
        KeyUsage: "ENCRYPT_DECRYPT",
        Tags: [
          { TagKey: "_custom_id_", TagValue: seed.keyId },
          { TagKey: "_custom_key_material_", TagValue: seed.keyMaterial },
        ],
      }),
    );
    key = created.KeyMetadata;
  }
  await ensureEnabled(key);
  await kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: key.KeyId }));
  return key.KeyId;
}

try {
  process.stdout.write(`${await main()}\n`);
} finally {
  kms.destroy();
}
