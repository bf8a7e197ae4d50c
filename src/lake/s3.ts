import {
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { awsErrorOf, classifyAwsError } from '../aws/errors.js';
import { StorageError } from '../errors.js';
import type { Lake } from './index.js';

/**
 * A failed S3 call as a {@link StorageError}, classified by {@link classifyAwsError}: retriable for
 * throttling (`SlowDown`), 5xx, network failures and timeouts; not retriable, with failure class
 * `access_denied`, `not_found` (`NoSuchBucket`), `kms` (a disabled, missing or denied KMS key) or
 * `http_4xx`, for a failure that repeats until an operator fixes its cause. The message names the
 * operation and quotes the S3 error code and message (never a credential: S3 does not echo them).
 * @param what - the operation and key, e.g. `PutObject bronze/x.json.gz`.
 */
export function s3LakeError(uri: string, what: string, err: unknown): StorageError {
  const { retriable, failureClass } = classifyAwsError(err, 'storage');
  const e = awsErrorOf(err);
  const detail = e.message ? `${e.name ?? 'Error'}: ${e.message}` : (e.name ?? String(err));
  return new StorageError(`lake ${uri}: ${what} failed: ${detail}`, { cause: err, retriable, failureClass });
}

export interface S3LakeOptions {
  /** An S3 client to use; by default one built from the SDK's environment conventions. */
  client?: S3Client;
  /**
   * Time one S3 call (PutObject, GetObject with its body, one ListObjectsV2 page, HeadBucket) may
   * take before it is aborted; a timed-out call fails with a retriable StorageError.
   * @default 30000
   */
  requestTimeoutMs?: number;
}

/** Default of {@link S3LakeOptions.requestTimeoutMs}. */
export const S3_REQUEST_TIMEOUT_MS = 30_000;

/** A lake on S3 (or an S3-compatible emulator). Keys are `<prefix>/<key>`. */
export class S3Lake implements Lake {
  private readonly client: S3Client;
  private readonly requestTimeoutMs: number;

  constructor(
    readonly uri: string,
    private readonly bucket: string,
    private readonly prefix: string,
    options: S3LakeOptions = {},
  ) {
    // Emulators (moto, LocalStack) answer path-style requests on their endpoint.
    this.client =
      options.client ??
      new S3Client({
        forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL),
      });
    this.requestTimeoutMs = options.requestTimeoutMs ?? S3_REQUEST_TIMEOUT_MS;
  }

  private key(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  /**
   * Runs one S3 call with an abort signal that fires after `requestTimeoutMs`.
   * @param what - the operation and key, for the error message.
   * @param call - sends the command with the given signal as its `abortSignal`.
   * @throws StorageError (retriable, class `timeout`) when the call timed out; else the call's own error.
   */
  private async timed<T>(what: string, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(this.requestTimeoutMs);
    try {
      return await call(signal);
    } catch (err) {
      if (!signal.aborted) throw err;
      throw new StorageError(`lake ${this.uri}: ${what} timed out after ${this.requestTimeoutMs} ms`, {
        cause: err,
        retriable: true,
        failureClass: 'timeout',
      });
    }
  }

  /**
   * PutObject. @throws StorageError classified by {@link s3LakeError}: not retriable for
   * `AccessDenied`, `NoSuchBucket` or a KMS failure.
   */
  async put(key: string, body: Uint8Array, contentType = 'application/octet-stream'): Promise<void> {
    try {
      await this.timed(`PutObject ${key}`, (abortSignal) =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: this.key(key),
            Body: body,
            ContentType: contentType,
          }),
          { abortSignal },
        ),
      );
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw s3LakeError(this.uri, `PutObject ${key}`, err);
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return await this.timed(`GetObject ${key}`, async (abortSignal) => {
        const res = await this.client.send(
          new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }),
          {
            abortSignal,
          },
        );
        return res.Body ? await res.Body.transformToByteArray() : new Uint8Array();
      });
    } catch (err) {
      if (err instanceof StorageError) throw err;
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw s3LakeError(this.uri, `GetObject ${key}`, err);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    try {
      do {
        const continuationToken = token;
        const res = await this.timed(`ListObjectsV2 ${prefix}`, (abortSignal) =>
          this.client.send(
            new ListObjectsV2Command({
              Bucket: this.bucket,
              Prefix: this.key(prefix),
              ContinuationToken: continuationToken,
            }),
            { abortSignal },
          ),
        );
        for (const o of res.Contents ?? []) if (o.Key) out.push(o.Key.slice(strip));
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw s3LakeError(this.uri, `ListObjectsV2 ${prefix}`, err);
    }
    return out.sort();
  }

  async ping(): Promise<boolean> {
    try {
      await this.timed('HeadBucket', (abortSignal) =>
        this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal }),
      );
      return true;
    } catch {
      return false;
    }
  }
}
