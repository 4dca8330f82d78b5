// The package's TypeScript client helpers (for agent workers), over a connect-es SecretsService client.
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
