import {
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { StorageError } from '../errors.js';
import type { Lake } from './index.js';

export interface S3LakeOptions {
  /** An S3 client to use; by default one built from the SDK's environment conventions. */
  client?: S3Client;
}

/** A lake on S3 (or an S3-compatible emulator). Keys are `<prefix>/<key>`. */
export class S3Lake implements Lake {
  private readonly client: S3Client;

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
  }

  private key(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  async put(key: string, body: Uint8Array, contentType = 'application/octet-stream'): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(key),
          Body: body,
          ContentType: contentType,
        }),
      );
    } catch (err) {
      throw new StorageError(`lake ${this.uri}: PutObject ${key} failed`, { cause: err, retriable: true });
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return res.Body ? await res.Body.transformToByteArray() : new Uint8Array();
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw new StorageError(`lake ${this.uri}: GetObject ${key} failed`, { cause: err });
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    try {
      do {
        const res = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.key(prefix),
            ContinuationToken: token,
          }),
        );
        for (const o of res.Contents ?? []) if (o.Key) out.push(o.Key.slice(strip));
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw new StorageError(`lake ${this.uri}: ListObjectsV2 ${prefix} failed`, { cause: err });
    }
    return out.sort();
  }

  async ping(): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return true;
    } catch {
      return false;
    }
  }
}
