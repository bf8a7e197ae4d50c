/**
 * Helpers for tests against moto's S3 (see moto.ts): a client for its endpoint, listing every key,
 * counting the envelope ids in bronze objects, and deleting a bucket with what it holds.
 */
import {
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { gunzipNdjson } from '../../src/consumers/bronze/index.js';

/** An S3 client for moto's endpoint (path-style, test credentials, us-east-1). */
export function motoS3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}

/** Every key of a bucket (under `prefix`), following continuation tokens. */
export async function listKeys(s3: S3Client, bucket: string, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Every envelope `id` in the bucket's gzip NDJSON objects, with how often it landed. */
export async function landedIdCounts(s3: S3Client, bucket: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const key of await listKeys(s3, bucket)) {
    const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    for (const line of await gunzipNdjson(await (obj.Body?.transformToByteArray() ?? new Uint8Array()))) {
      const id = (JSON.parse(line) as { id: string }).id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

/** Empties and deletes a bucket (S3 deletes only an empty bucket). */
export async function deleteBucket(s3: S3Client, bucket: string): Promise<void> {
  const keys = await listKeys(s3, bucket);
  if (keys.length > 0) {
    await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
    );
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}
