// The package's TypeScript SDK: createSecretsClient, and the helpers for agent workers it carries.
export {
  createCachingReader,
  type CachingReader,
  type CachingReaderClient,
  type CachingReaderOptions,
  type CachingReaderStats,
} from "./caching-reader.js";
export {
  createFetchWithSecrets,
  type FetchWithSecrets,
  type FetchWithSecretsInit,
  type ProxiedResponse,
  type ProxyClient,
} from "./fetch-with-secrets.js";
export {
  baseUrlOf,
  createSecretsClient,
  RETRIED_METHODS,
  type SecretsClient,
  type SecretsClientOptions,
  type SecretsClientRetry,
  type SecretsClientTls,
} from "./secrets-client.js";
