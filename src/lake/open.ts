import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { FileLake } from './file.js';
import type { Lake } from './index.js';
import { S3Lake, type S3LakeOptions } from './s3.js';

/**
 * Opens a lake from its URI.
 * - `file://./data/lake` (relative to the working directory) or `file:///abs/path`;
 * - `s3://bucket[/prefix]`: the S3 client follows the SDK's conventions (`AWS_REGION`,
 *   `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, the default credential chain).
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
    return new S3Lake(uri, bucket, prefix.filter(Boolean).join('/'), options);
  }
  throw new ConfigError(`lake URI ${uri}: expected file:// or s3://`);
}
