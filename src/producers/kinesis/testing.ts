/**
 * Test support: an in-memory {@link PutRecordsClient} that records every call, answers with a
 * scripted response, and keeps the accepted records per "shard" (one shard per partition key) in
 * acceptance order, like Kinesis assigns sequence numbers.
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import type {
  PutRecordsClient,
  PutRecordsEntry,
  PutRecordsInput,
  PutRecordsOutputLike,
  PutRecordsResultEntry,
  StreamSummary,
} from './client.js';

/** What a scripted responder decides for one entry: accept it, or fail it with an error code. */
export type EntryOutcome = 'ok' | { errorCode: string; errorMessage?: string };

export class FakePutRecordsClient implements PutRecordsClient {
  readonly endpoint = 'fake://kinesis';
  /** What `describeStream` reports as the open shard count. */
  openShardCount = 1;
  /** Every call, with copies of its entries. */
  readonly calls: PutRecordsInput[] = [];
  /** Accepted entries in acceptance order. */
  readonly accepted: (PutRecordsEntry & { SequenceNumber: string; ShardId: string })[] = [];
  status = 'ACTIVE';
  describeError: unknown;
  private seq = 0;

  /**
   * @param respond - called per call; return per-entry outcomes, throw to fail the whole call, or
   * return a promise to delay the answer. Defaults to accepting everything.
   */
  constructor(
    public respond: (input: PutRecordsInput, call: number) => EntryOutcome[] | Promise<EntryOutcome[]> = (
      i,
    ) => i.Records.map(() => 'ok'),
  ) {}

  async putRecords(input: PutRecordsInput): Promise<PutRecordsOutputLike> {
    const copy = { StreamName: input.StreamName, Records: input.Records.map((r) => ({ ...r })) };
    this.calls.push(copy);
    const outcomes = await this.respond(copy, this.calls.length - 1);
    const Records: PutRecordsResultEntry[] = copy.Records.map((r, i) => {
      const o = outcomes[i] ?? 'ok';
      if (o !== 'ok') return { ErrorCode: o.errorCode, ErrorMessage: o.errorMessage ?? o.errorCode };
      const ShardId = 'shardId-000000000000';
      const SequenceNumber = String(++this.seq).padStart(20, '0');
      this.accepted.push({ ...r, SequenceNumber, ShardId });
      return { ShardId, SequenceNumber };
    });
    return { FailedRecordCount: Records.filter((r) => r.ErrorCode).length, Records };
  }

  async describeStream(): Promise<StreamSummary> {
    if (this.describeError !== undefined) throw this.describeError;
    return { status: this.status, openShardCount: this.openShardCount };
  }
}

/** An error shaped like the SDK's service exceptions (`name`, `$fault`, `$metadata`). */
export function awsError(name: string, httpStatusCode = 400): Error {
  return Object.assign(new Error(`${name} (simulated)`), {
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode },
  });
}

/** A dead-letter queue that fails the test: integration tests expect no dead letters. */
export const noDeadLetters = {
  put: async (letters: unknown[]): Promise<void> => {
    throw new Error(`unexpected dead letters: ${JSON.stringify(letters).slice(0, 200)}`);
  },
};

/** One record read back from a stream. */
export interface ShardRecordRead {
  shardId: string;
  parentShardId?: string;
  sequenceNumber: string;
  data: Uint8Array;
}

/** Reads every shard of a stream (open and closed) from TRIM_HORIZON to its tip, shard by shard. */
export async function readStreamRecords(reader: KinesisClient, stream: string): Promise<ShardRecordRead[]> {
  const shards = (await reader.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  const out: ShardRecordRead[] = [];
  for (const shard of shards) {
    let iterator = (
      await reader.send(
        new GetShardIteratorCommand({
          StreamName: stream,
          ShardId: shard.ShardId!,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    for (let i = 0; iterator && i < 100; i++) {
      const page = await reader.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      for (const r of page.Records ?? [])
        out.push({
          shardId: shard.ShardId!,
          ...(shard.ParentShardId ? { parentShardId: shard.ParentShardId } : {}),
          sequenceNumber: r.SequenceNumber!,
          data: r.Data!,
        });
      if ((page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return out;
}

/** Sum of a metric's values whose labels include `labels`. */
export async function metricValue(
  m: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> },
  labels: Record<string, string>,
): Promise<number> {
  return (await m.get()).values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((n, v) => n + v.value, 0);
}
