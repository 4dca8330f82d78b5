import {
  DecryptCommand,
  DescribeKeyCommand,
  GenerateDataKeyCommand,
  KMSClient,
  KMSServiceException,
  ReEncryptCommand,
} from "@aws-sdk/client-kms";
import { DataLossError, FailedPreconditionError, UnavailableError } from "../../errors.js";
import type { DataKey, KeyContext, KeyProvider, WrappedKey } from "../../ports/key-provider.js";
import { contextPairs } from "../../ports/key-context.js";

export interface AwsKeyProviderOptions {
  /** Key id, ARN or alias of the KMS key that wraps data keys. */
  keyId: string;
  region: string;
  /** For emulators (LocalStack, local-kms). */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

// Ciphertext that does not authenticate under this context (or was moved to another record).
const INTEGRITY_ERRORS = new Set(["InvalidCiphertextException", "IncorrectKeyException"]);
const KEY_STATE_ERRORS = new Set(["DisabledException", "KMSInvalidStateException", "NotFoundException", "KeyUnavailableException"]);

/** Data keys from AWS KMS (GenerateDataKey / Decrypt / ReEncrypt), bound by encryption context. */
export class AwsKeyProvider implements KeyProvider {
  private readonly client: KMSClient;
  private active: Promise<string> | undefined;

  constructor(private readonly options: AwsKeyProviderOptions) {
    this.client = new KMSClient({
      region: options.region,
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 2_000, requestTimeout: 5_000 },
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
  }

  async generateDataKey(context: KeyContext): Promise<DataKey> {
    const out = await this.call(() =>
      this.client.send(
        new GenerateDataKeyCommand({
          KeyId: this.options.keyId,
          KeySpec: "AES_256",
          EncryptionContext: contextPairs(context),
        }),
      ),
    );
    if (!out.Plaintext || !out.CiphertextBlob || !out.KeyId) throw new UnavailableError("KMS returned an incomplete data key");
    const plaintext = Buffer.from(out.Plaintext);
    out.Plaintext.fill(0);
    return { plaintext, wrapped: out.CiphertextBlob, keyId: out.KeyId };
  }

  async decryptDataKey(keyId: string, wrapped: Uint8Array, context: KeyContext): Promise<Buffer> {
    const out = await this.call(() =>
      this.client.send(
        new DecryptCommand({ KeyId: keyId, CiphertextBlob: wrapped, EncryptionContext: contextPairs(context) }),
      ),
    );
    if (!out.Plaintext) throw new DataLossError();
    const plaintext = Buffer.from(out.Plaintext);
    out.Plaintext.fill(0);
    return plaintext;
  }

  async rewrapDataKey(keyId: string, wrapped: Uint8Array, context: KeyContext, toKeyId: string): Promise<WrappedKey> {
    const pairs = contextPairs(context);
    const out = await this.call(() =>
      this.client.send(
        new ReEncryptCommand({
          CiphertextBlob: wrapped,
          SourceKeyId: keyId,
          SourceEncryptionContext: pairs,
          DestinationKeyId: toKeyId,
          DestinationEncryptionContext: pairs,
        }),
      ),
    );
    if (!out.CiphertextBlob || !out.KeyId) throw new UnavailableError("KMS returned an incomplete re-encryption");
    return { wrapped: out.CiphertextBlob, keyId: out.KeyId };
  }

  async resolveKeyId(key: string): Promise<string> {
    const out = await this.call(() => this.client.send(new DescribeKeyCommand({ KeyId: key })));
    const meta = out.KeyMetadata;
    if (!meta?.Arn) throw new UnavailableError("KMS described no key");
    if (meta.Enabled === false) throw new FailedPreconditionError(`KMS key is not usable (${meta.KeyState ?? "disabled"})`);
    return meta.Arn;
  }

  activeKeyId(): Promise<string> {
    const resolving = (this.active ??= this.resolveKeyId(this.options.keyId));
    resolving.catch(() => (this.active = undefined)); // a failure is not remembered
    return resolving;
  }

  private async call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof KMSServiceException) {
        if (INTEGRITY_ERRORS.has(err.name)) throw new DataLossError(undefined, { cause: err });
        if (KEY_STATE_ERRORS.has(err.name)) throw new FailedPreconditionError(`KMS key is not usable (${err.name})`, { cause: err });
        if (err.$fault === "client") throw new FailedPreconditionError(`KMS rejected the request (${err.name})`, { cause: err });
      }
      throw new UnavailableError("key service unavailable", { cause: err });
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
