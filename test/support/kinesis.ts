/** Helpers for tests that put records on the Kinesis emulator. */
import type { PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';

/** The highest sequence number a PutRecords answer assigned on each shard, by shard id. */
export function lastSequenceByShard(res: PutRecordsCommandOutput): Map<string, string> {
  const last = new Map<string, string>();
  for (const r of res.Records ?? []) {
    const prev = last.get(r.ShardId ?? '');
    if (!prev || BigInt(r.SequenceNumber ?? 0) > BigInt(prev))
      last.set(r.ShardId ?? '', r.SequenceNumber ?? '');
  }
  return last;
}
