import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { FileLake } from './file.js';
import type { Lake } from './index.js';
import type { S3LakeOptions } from './s3.js';

/**
 * An S3 lake whose module (and the S3 client with it) loads on the first call: a role that only
 * names an `s3://` dead-letter location and never writes one does not pay for loading the S3 SDK
 * at start-up (issue 8). Each call behaves exactly as {@link S3Lake}'s.
 */
class DeferredS3Lake implements Lake {
  private lake: Promise<Lake> | undefined;

  constructor(
    readonly uri: string,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly options: S3LakeOptions,
  ) {}

  private open(): Promise<Lake> {
    this.lake ??= import('./s3.js').then(
      (m) => new m.S3Lake(this.uri, this.bucket, this.prefix, this.options),
    );
    return this.lake;
  }

  async put(key: string, body: Uint8Array, contentType?: string): Promise<void> {
    return (await this.open()).put(key, body, contentType);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return (await this.open()).get(key);
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.open()).list(prefix);
  }

  async ping(): Promise<boolean> {
    return (await this.open()).ping();
  }
}

/**
 * Opens a lake from its URI.
 * - `file://./data/lake` (relative to the working directory) or `file:///abs/path`;
 * - `s3://bucket[/prefix]`: the S3 client follows the SDK's conventions (`AWS_REGION`,
 *   `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, the default credential chain); it is loaded on the
 *   lake's first call.
 * @throws ConfigError for any other scheme.
 */
export function openLake(uri: string, options: S3LakeOptions = {}): Lake {
  if (uri.startsWith('file://')) {
    const rest = uri.slice('file://'.length);
    const path = rest.startsWith('/') ? fileURLToPath(`file://${rest}`) : resolve(rest);
    return new FileLake(uri, path);
  }
  if (uri.startsWith('s3://')) {
    const [bucket, ...prefix] = uri.slice('s3://'.length).split('/');
    if (!bucket) throw new ConfigError(`lake URI ${uri}: no bucket`);
    return new DeferredS3Lake(uri, bucket, prefix.filter(Boolean).join('/'), options);
  }
  throw new ConfigError(`lake URI ${uri}: expected file:// or s3://`);
}
