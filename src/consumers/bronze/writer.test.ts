/**
 * The writer's control flow against an in-memory Kinesis (a fake client) and an in-memory lake:
 * stop() flushing, throttling and expired iterators, GetRecords pacing, parent/child shards, shard
 * discovery, call timeouts, write retries, worker restarts and checkpoint ownership. The real
 * emulators are exercised in test/integration.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DeadLetterQueue } from '../../deadletter/index.js';
import { StateConflictError, StorageError } from '../../errors.js';
import type { Lake } from '../../lake/index.js';
import type { PutOptions, StateStore, Versioned } from '../../state/index.js';
import { readiness, registry } from '../../telemetry/index.js';
import {
  type BronzeWriter,
  BronzeWriterSchema,
  checkpointKey,
  createBronzeWriter,
  type ShardCheckpoint,
} from './index.js';
import { gunzipNdjson } from './objects.js';

/** A global order of fake calls and state writes (timestamps can tie). */
let tick = 0;

interface FakeShard {
  id: string;
  parent?: string;
  closed: boolean;
  records: {
    SequenceNumber: string;
    Data: Uint8Array;
    PartitionKey: string;
    ApproximateArrivalTimestamp: Date;
  }[];
}

/** Enough of Kinesis for the writer: ListShards, GetShardIterator, GetRecords, DescribeStreamSummary. */
class FakeKinesis {
  readonly shards = new Map<string, FakeShard>();
  readonly calls: { op: string; shard?: string; at: number; n: number; type?: string; after?: string }[] = [];
  /** Errors GetRecords throws next, in order. */
  readonly getRecordsErrors: Error[] = [];
  /** Errors ListShards throws next, in order. */
  readonly listShardsErrors: Error[] = [];
  /**
   * Operations whose next call hangs until its abort signal fires (then fails like the SDK does,
   * with an `AbortError`), in order: the first entry applies to the next call of that operation.
   */
  readonly hang: string[] = [];
  private seq = 1000;

  addShard(id: string, options: { parent?: string; closed?: boolean } = {}): void {
    this.shards.set(id, { id, parent: options.parent, closed: options.closed ?? false, records: [] });
  }

  put(shardId: string, data: unknown): string {
    const seq = String(this.seq++);
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    this.shards.get(shardId)?.records.push({
      SequenceNumber: seq,
      Data: new TextEncoder().encode(text),
      PartitionKey: 'pk',
      ApproximateArrivalTimestamp: new Date(),
    });
    return seq;
  }

  async send(
    command: { constructor: { name: string }; input: Record<string, unknown> },
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<unknown> {
    const op = command.constructor.name.replace(/Command$/, '');
    const input = command.input;
    if (this.hang[0] === op) {
      this.hang.shift();
      this.calls.push({ op: `${op}(hung)`, at: Date.now(), n: tick++ });
      const signal = options.abortSignal;
      await new Promise<never>((_, reject) => {
        const abort = () =>
          reject(Object.assign(new Error('Request aborted'), { name: 'AbortError', cause: signal?.reason }));
        if (signal?.aborted) abort();
        signal?.addEventListener('abort', abort, { once: true });
      });
    }
    switch (op) {
      case 'ListShards': {
        this.calls.push({ op, at: Date.now(), n: tick++ });
        const err = this.listShardsErrors.shift();
        if (err) throw err;
        return {
          Shards: [...this.shards.values()].map((s) => ({ ShardId: s.id, ParentShardId: s.parent })),
        };
      }
      case 'DescribeStreamSummary':
        return { StreamDescriptionSummary: { StreamStatus: 'ACTIVE' } };
      case 'GetShardIterator': {
        const shard = this.shards.get(input.ShardId as string);
        if (!shard) throw Object.assign(new Error('no shard'), { name: 'ResourceNotFoundException' });
        const type = input.ShardIteratorType as string;
        this.calls.push({
          op,
          shard: shard.id,
          at: Date.now(),
          n: tick++,
          type,
          after: input.StartingSequenceNumber as string,
        });
        let pos = 0;
        if (type === 'LATEST') pos = shard.records.length;
        if (type === 'AFTER_SEQUENCE_NUMBER') {
          pos = shard.records.findIndex((r) => r.SequenceNumber === input.StartingSequenceNumber) + 1;
        }
        return { ShardIterator: `${shard.id}|${pos}` };
      }
      case 'GetRecords': {
        const [id, p] = (input.ShardIterator as string).split('|');
        this.calls.push({ op, shard: id, at: Date.now(), n: tick++ });
        const err = this.getRecordsErrors.shift();
        if (err) throw err;
        const shard = this.shards.get(id ?? '') as FakeShard;
        const pos = Number(p);
        const records = shard.records.slice(pos, pos + (input.Limit as number));
        const next = pos + records.length;
        const atEnd = next >= shard.records.length;
        return {
          Records: records,
          MillisBehindLatest: atEnd ? 0 : 1000,
          NextShardIterator: atEnd && shard.closed ? undefined : `${id}|${next}`,
        };
      }
      default:
        throw new Error(`fake Kinesis: ${op} not implemented`);
    }
  }

  destroy(): void {}
}

class MemoryLake implements Lake {
  readonly uri = 'memory://';
  readonly objects = new Map<string, Uint8Array>();
  /** Errors `put` throws next, in order. */
  readonly putErrors: Error[] = [];
  /** While set, every `put` throws it (after `putErrors` ran out). */
  failWith?: Error;
  async put(key: string, body: Uint8Array): Promise<void> {
    const err = this.putErrors.shift() ?? this.failWith;
    if (err) throw err;
    this.objects.set(key, body);
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    return this.objects.get(key);
  }
  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  async ping(): Promise<boolean> {
    return true;
  }
}

class MemoryState implements StateStore {
  readonly data = new Map<string, Versioned<unknown>>();
  readonly puts: { key: string; n: number; value: unknown }[] = [];
  async get<T>(key: string): Promise<Versioned<T> | undefined> {
    return this.data.get(key) as Versioned<T> | undefined;
  }
  async put<T>(key: string, value: T, options: PutOptions = {}): Promise<number> {
    const current = this.data.get(key)?.version ?? 0;
    if (options.expectedVersion !== undefined && options.expectedVersion !== current) {
      throw new StateConflictError(`${key} is at ${current}, expected ${options.expectedVersion}`);
    }
    this.data.set(key, { value, version: current + 1 });
    this.puts.push({ key, n: tick++, value });
    return current + 1;
  }
  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
  async close(): Promise<void> {}
}

const env = (id: string, hour = '10') => ({
  source: 'src.a',
  id,
  ingested_at: `2024-03-05T${hour}:00:00.000Z`,
  payload: { id },
});

const writers: BronzeWriter[] = [];
afterEach(async () => {
  await Promise.all(writers.splice(0).map((w) => w.stop()));
});

function setup(overrides: Record<string, unknown> = {}) {
  const kinesis = new FakeKinesis();
  const lake = new MemoryLake();
  const dlqLake = new MemoryLake();
  const state = new MemoryState();
  /** Every log line of the writers at info level and above. */
  const logs: { level: number; msg: string; [k: string]: unknown }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const make = () => {
    const w = createBronzeWriter(
      BronzeWriterSchema.parse({
        type: 'bronze',
        name: 'unit',
        streamName: 's',
        pollIntervalMs: 20,
        bufferIntervalSecs: 0,
        retryBaseDelayMs: 5,
        retryMaxDelayMs: 20,
        ...overrides,
      }),
      {
        state,
        deadLetters: new DeadLetterQueue(dlqLake),
        logger,
        kinesis: kinesis as unknown as KinesisClient,
        lake,
      },
    );
    writers.push(w);
    return w;
  };
  return { kinesis, lake, dlqLake, state, make, logs };
}

async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The value of a bronze metric for the `unit` consumer, a shard and optional further labels. */
async function metricValue(
  name: string,
  shard: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  const values = (await metric?.get())?.values ?? [];
  const match = { consumer: 'unit', shard, ...labels };
  return values.find((v) => Object.entries(match).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
}

/** The value of `ingest_bronze_shard_restarts_total` for the `unit` consumer and a shard. */
function restarts(shard: string): Promise<number> {
  return metricValue('ingest_bronze_shard_restarts_total', shard);
}

async function landedIds(lake: MemoryLake): Promise<string[]> {
  const ids: string[] = [];
  for (const body of lake.objects.values()) {
    for (const line of await gunzipNdjson(body)) ids.push((JSON.parse(line) as { id: string }).id);
  }
  return ids.sort();
}

describe('bronze writer (fake Kinesis)', () => {
  it('holds records under its thresholds, and stop() flushes and checkpoints them quickly', async () => {
    const { kinesis, lake, state, make } = setup({ bufferIntervalSecs: 900, bufferMaxBytes: 1024 * 1024 });
    kinesis.addShard('shard-0');
    kinesis.put('shard-0', env('a'));
    const last = kinesis.put('shard-0', env('b', '11'));
    const w = make();
    await w.start();
    await waitFor('records buffered', () => w.stats().recordsBuffered === 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(lake.objects.size).toBe(0);
    const t0 = Date.now();
    await w.stop();
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect([...lake.objects.keys()]).toEqual([
      'bronze/source=src.a/dt=2024-03-05/hour=10/s-shard-0-1000.json.gz',
      'bronze/source=src.a/dt=2024-03-05/hour=11/s-shard-0-1001.json.gz',
    ]);
    expect(
      (await state.get<ShardCheckpoint>(checkpointKey('unit', 's', 'shard-0')))?.value.sequenceNumber,
    ).toBe(last);
    expect(w.stats()).toMatchObject({
      recordsBuffered: 0,
      recordsLanded: 2,
      objectsWritten: 2,
      checkpointsWritten: 1,
    });
  });

  it('cuts buffers by size, checkpointing each at its last record', async () => {
    const { kinesis, lake, state, make } = setup({ bufferMaxBytes: 1024, bufferIntervalSecs: 900 });
    kinesis.addShard('shard-0');
    const seqs = Array.from({ length: 20 }, (_, i) =>
      kinesis.put('shard-0', { ...env(`r${i}`), pad: 'x'.repeat(100) }),
    );
    const w = make();
    await w.start();
    await waitFor('some flushes', () => w.stats().objectsWritten >= 2);
    const cps = state.puts.map((p) => (p.value as ShardCheckpoint).sequenceNumber);
    expect(cps.length).toBeGreaterThanOrEqual(2);
    // Each object starts right after the previous checkpoint.
    const firsts = [...lake.objects.keys()].map((k) => /-(\d+)\.json\.gz$/.exec(k)?.[1]).sort();
    expect(firsts[0]).toBe(seqs[0]);
    for (const cp of cps.slice(0, -1)) expect(firsts).toContain(String(Number(cp) + 1));
    await w.stop();
    expect(await landedIds(lake)).toEqual(Array.from({ length: 20 }, (_, i) => `r${i}`).sort());
  });

  it('backs off on throttling, replaces an expired iterator after the last record read, and spaces GetRecords by 200 ms', async () => {
    const { kinesis, lake, make } = setup({ maxRecordsPerGet: 2, bufferIntervalSecs: 900 });
    kinesis.addShard('shard-0');
    for (let i = 0; i < 5; i++) kinesis.put('shard-0', env(`r${i}`));
    kinesis.getRecordsErrors.push(
      Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }),
    );
    const w = make();
    await w.start();
    await waitFor('first batch', () => w.stats().kinesisRecordsRead === 2);
    kinesis.getRecordsErrors.push(Object.assign(new Error('expired'), { name: 'ExpiredIteratorException' }));
    await waitFor('all read', () => w.stats().kinesisRecordsRead === 5, 10_000);
    await w.stop();
    expect(await landedIds(lake)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    expect(w.stats().errors).toBe(2);
    const iters = kinesis.calls.filter((c) => c.op === 'GetShardIterator');
    expect(iters.map((c) => c.type)).toEqual(['TRIM_HORIZON', 'AFTER_SEQUENCE_NUMBER']);
    expect(iters[1]?.after).toBe('1001');
    const gets = kinesis.calls.filter((c) => c.op === 'GetRecords').map((c) => c.at);
    for (let i = 1; i < gets.length; i++)
      expect((gets[i] ?? 0) - (gets[i - 1] ?? 0)).toBeGreaterThanOrEqual(195);
  });

  it('reads a closed parent shard to its end before its child, and never again after a restart', async () => {
    // One record per call: the parent takes several paced GetRecords calls to reach its end.
    const { kinesis, lake, state, make } = setup({ maxRecordsPerGet: 1 });
    kinesis.addShard('parent', { closed: true });
    kinesis.addShard('child', { parent: 'parent' });
    kinesis.put('parent', env('p0'));
    kinesis.put('parent', env('p1'));
    kinesis.put('child', env('c0'));
    const w = make();
    await w.start();
    await waitFor('all landed', () => w.stats().recordsLanded === 3);
    const parentEnd = state.puts.find(
      (p) => p.key.endsWith('/parent') && (p.value as ShardCheckpoint).shardEnd,
    );
    const firstChildRead = kinesis.calls.find((c) => c.op === 'GetShardIterator' && c.shard === 'child');
    expect(parentEnd).toBeDefined();
    expect(firstChildRead?.type).toBe('TRIM_HORIZON');
    expect(firstChildRead?.n ?? 0).toBeGreaterThan(parentEnd?.n ?? Number.POSITIVE_INFINITY);
    await w.stop();
    expect(w.stats().shards.parent?.state).toBe('ended');
    expect(await landedIds(lake)).toEqual(['c0', 'p0', 'p1']);

    kinesis.calls.length = 0;
    const again = make();
    await again.start();
    await waitFor('child reading', () => again.stats().shards.child?.state === 'reading');
    await again.stop();
    expect(kinesis.calls.some((c) => c.shard === 'parent')).toBe(false);
    expect(again.stats().recordsLanded).toBe(0);
  });

  it('retries a retriable lake failure and checkpoints only after the write succeeded', async () => {
    const { kinesis, lake, state, make } = setup();
    kinesis.addShard('shard-0');
    kinesis.put('shard-0', env('a'));
    lake.putErrors.push(new StorageError('boom 1'), new StorageError('boom 2'));
    const w = make();
    await w.start();
    await waitFor('landed', () => w.stats().recordsLanded === 1);
    await w.stop();
    expect(w.stats().errors).toBe(2);
    expect(state.puts).toHaveLength(1);
    expect(await landedIds(lake)).toEqual(['a']);
  });

  it('restarts a shard worker from its checkpoint after a non-retriable read failure, after a backoff', async () => {
    const { kinesis, lake, state, make } = setup({ retryBaseDelayMs: 300, retryMaxDelayMs: 300 });
    kinesis.addShard('shard-0');
    const first = kinesis.put('shard-0', env('a'));
    const before = await restarts('shard-0');
    const w = make();
    await w.start();
    await waitFor('a landed', () => w.stats().recordsLanded === 1);
    kinesis.getRecordsErrors.push(
      Object.assign(new Error('not authorized'), {
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    kinesis.put('shard-0', env('b'));
    await waitFor('shard failed', () => w.stats().shards['shard-0']?.state === 'failed');
    expect(w.stats().shards['shard-0']?.error).toMatch(/StreamReadError: GetRecords .*AccessDeniedException/);
    expect(state.puts).toHaveLength(1);
    expect(await w.ready()).toBe(false);
    // Restarted after the backoff (150-300 ms), from the checkpoint: b is read again and lands.
    await waitFor('b landed', () => w.stats().recordsLanded === 2);
    expect(await restarts('shard-0')).toBe(before + 1);
    expect(w.stats().shards['shard-0']).toMatchObject({ state: 'reading' });
    expect(w.stats().shards['shard-0']?.error).toBeUndefined();
    expect(await w.ready()).toBe(true);
    const iters = kinesis.calls.filter((c) => c.op === 'GetShardIterator');
    expect(iters.map((c) => [c.type, c.after])).toEqual([
      ['TRIM_HORIZON', undefined],
      ['AFTER_SEQUENCE_NUMBER', first],
    ]);
    await w.stop();
    expect(await landedIds(lake)).toEqual(['a', 'b']);
    expect(state.puts).toHaveLength(2);
  });

  it('does not restart a shard another writer took over while it was reading', async () => {
    const { kinesis, state, make } = setup();
    kinesis.addShard('shard-0');
    kinesis.put('shard-0', env('a'));
    const before = await restarts('shard-0');
    const w = make();
    await w.start();
    await waitFor('a checkpointed', () => state.puts.length === 1);
    await state.put(checkpointKey('unit', 's', 'shard-0'), { sequenceNumber: '999', updatedAt: '' });
    kinesis.put('shard-0', env('b'));
    await waitFor('shard failed', () => w.stats().shards['shard-0']?.state === 'failed');
    await new Promise((r) => setTimeout(r, 200));
    expect(w.stats().shards['shard-0']).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/ShardOwnershipError/),
    });
    expect(await restarts('shard-0')).toBe(before);
    expect(kinesis.calls.filter((c) => c.op === 'GetShardIterator')).toHaveLength(1);
  });

  it('lists the shards again after a parent ended until it succeeds, through a hung and a failed ListShards, and reads the children', async () => {
    // Discovery by interval is out of the way: only the parent's end lists the shards again.
    const { kinesis, lake, make } = setup({
      maxRecordsPerGet: 1,
      shardDiscoveryIntervalSecs: 3_600,
      requestTimeoutMs: 100,
    });
    kinesis.addShard('parent', { closed: true });
    kinesis.put('parent', env('p0'));
    kinesis.put('parent', env('p1'));
    const w = make();
    await w.start();
    // The reshard happens after start: the child is only found by listing again.
    kinesis.addShard('child', { parent: 'parent' });
    kinesis.put('child', env('c0'));
    kinesis.hang.push('ListShards');
    kinesis.listShardsErrors.push(
      Object.assign(new Error('internal'), { name: 'InternalFailure', $metadata: { httpStatusCode: 500 } }),
    );
    await waitFor('child landed', () => w.stats().recordsLanded === 3);
    expect(kinesis.calls.filter((c) => c.op.startsWith('ListShards')).map((c) => c.op)).toEqual([
      'ListShards',
      'ListShards(hung)',
      'ListShards',
      'ListShards',
    ]);
    expect(w.stats().errors).toBe(2);
    await w.stop();
    expect(await landedIds(lake)).toEqual(['c0', 'p0', 'p1']);
  });

  it('waits at start-up while ListShards times out (not ready, with the reason), then reads; fails at once for a missing stream', async () => {
    const { kinesis, lake, make } = setup({
      requestTimeoutMs: 100,
      retryBaseDelayMs: 10,
      retryMaxDelayMs: 20,
    });
    kinesis.addShard('shard-0');
    kinesis.put('shard-0', env('a'));
    kinesis.hang.push('ListShards', 'ListShards');
    const w = make();
    const starting = w.start();
    await waitFor('a not-ready reason while starting', () =>
      readiness.list().some((c) => /starting: cannot list the shards of stream/.test(c.reason)),
    );
    await starting;
    expect(readiness.list().some((c) => c.reason.startsWith('starting:'))).toBe(false);
    await waitFor('a landed', () => w.stats().recordsLanded === 1);
    await w.stop();
    expect(await landedIds(lake)).toEqual(['a']);

    const missing = setup();
    missing.kinesis.listShardsErrors.push(
      Object.assign(new Error('Stream s not found'), {
        name: 'ResourceNotFoundException',
        $metadata: { httpStatusCode: 400 },
      }),
    );
    await expect(missing.make().start()).rejects.toThrow(/not found|does not exist/i);
  });

  it('lists the shards every shardDiscoveryIntervalSecs and reads new ones without a parent ending', async () => {
    const { kinesis, lake, make } = setup({ shardDiscoveryIntervalSecs: 0.1 });
    kinesis.addShard('shard-0');
    kinesis.put('shard-0', env('a'));
    const w = make();
    await w.start();
    await waitFor('a landed', () => w.stats().recordsLanded === 1);
    kinesis.addShard('shard-1');
    kinesis.put('shard-1', env('b'));
    await waitFor('b landed', () => w.stats().recordsLanded === 2);
    expect(w.stats().shards['shard-1']?.state).toBe('reading');
    await w.stop();
    expect(await landedIds(lake)).toEqual(['a', 'b']);
    expect(BronzeWriterSchema.parse({ type: 'bronze', streamName: 's' })).toMatchObject({
      shardDiscoveryIntervalSecs: 60,
      requestTimeoutMs: 10_000,
    });
  });

  it('aborts a hung GetShardIterator or GetRecords after requestTimeoutMs and retries it', async () => {
    const { kinesis, lake, make } = setup({ requestTimeoutMs: 100 });
    kinesis.addShard('shard-0');
    kinesis.put('shard-0', env('a'));
    kinesis.hang.push('GetShardIterator', 'GetRecords');
    const w = make();
    const t0 = Date.now();
    await w.start();
    await waitFor('a landed', () => w.stats().recordsLanded === 1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(kinesis.calls.map((c) => c.op).filter((op) => op !== 'ListShards')).toEqual(
      expect.arrayContaining([
        'GetShardIterator(hung)',
        'GetShardIterator',
        'GetRecords(hung)',
        'GetRecords',
      ]),
    );
    expect(w.stats().errors).toBe(2);
    await w.stop();
    expect(await landedIds(lake)).toEqual(['a']);
  });

  it('stops reading a shard whose checkpoint another writer moved (conditional write)', async () => {
    const { kinesis, state, make } = setup({ bufferIntervalSecs: 900 });
    kinesis.addShard('shard-0');
    kinesis.put('shard-0', env('a'));
    const w = make();
    await w.start();
    await waitFor('buffered', () => w.stats().recordsBuffered === 1);
    await state.put(checkpointKey('unit', 's', 'shard-0'), { sequenceNumber: '999', updatedAt: '' });
    await w.stop();
    expect(w.stats().shards['shard-0']).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/ShardOwnershipError/),
    });
    expect(
      (await state.get<ShardCheckpoint>(checkpointKey('unit', 's', 'shard-0')))?.value.sequenceNumber,
    ).toBe('999');
  });

  it('dead-letters bad lines of an NDJSON record and lands the good ones', async () => {
    const { kinesis, lake, dlqLake, make } = setup();
    kinesis.addShard('shard-0');
    kinesis.put('shard-0', [JSON.stringify(env('a')), '{oops', JSON.stringify(env('b'))].join('\n'));
    const w = make();
    await w.start();
    await waitFor('handled', () => w.stats().recordsLanded + w.stats().recordsDeadLettered === 3);
    await w.stop();
    expect(await landedIds(lake)).toEqual(['a', 'b']);
    const [key] = await dlqLake.list('dead-letter/');
    const [letter] = await gunzipNdjson((await dlqLake.get(key ?? '')) as Uint8Array);
    expect(JSON.parse(letter ?? '{}')).toMatchObject({
      data: '{oops',
      reason: expect.stringMatching(/^line 2: not valid JSON/),
    });
  });
});

describe('bronze writer: lake writes that fail for good (issue 7)', () => {
  const noSuchBucket = () =>
    new StorageError('lake s3://gone: PutObject failed: NoSuchBucket: The specified bucket does not exist', {
      retriable: false,
      failureClass: 'not_found',
    });
  const checkpointOf = async (state: MemoryState) =>
    (await state.get<ShardCheckpoint>(checkpointKey('unit', 's', 'shard-0')))?.value.sequenceNumber;
  const condition = () => readiness.list().find((c) => c.key === 'bronze:unit/shard-0');

  it('marks a shard failed after the retry budget of non-retriable write failures, checkpoints nothing past them, and resumes by itself once the write succeeds', async () => {
    const { kinesis, lake, state, make, logs } = setup({
      failedShardRetryBudgetSecs: 0.3,
      failedShardProbeIntervalSecs: 0.1,
    });
    kinesis.addShard('shard-0');
    const first = kinesis.put('shard-0', env('a'));
    const failuresBefore = await metricValue('ingest_bronze_shard_failures_total', 'shard-0', {
      class: 'not_found',
    });
    const w = make();
    await w.start();
    await waitFor('a landed', () => w.stats().recordsLanded === 1);
    expect(await metricValue('ingest_bronze_shard_failed', 'shard-0')).toBe(0);

    lake.failWith = noSuchBucket();
    const failingSince = Date.now();
    const last = kinesis.put('shard-0', env('b'));
    await waitFor('shard failed', () => w.stats().shards['shard-0']?.state === 'failed');
    // Retried with backoff for the budget before it was marked failed.
    expect(Date.now() - failingSince).toBeGreaterThanOrEqual(300);
    expect(w.stats().errors).toBeGreaterThan(2);
    expect(w.stats().shards['shard-0']?.error).toMatch(/\(not_found\).*NoSuchBucket: The specified bucket/);
    expect(condition()?.reason).toMatch(
      /^writing bronze\/source=src\.a\/.* fails with a non-retriable error \(not_found\): BronzeWriteError: cannot write .*NoSuchBucket.*nothing is checkpointed past it; retrying every 0\.1 s$/,
    );
    expect(await metricValue('ingest_bronze_shard_failed', 'shard-0')).toBe(1);
    expect(await metricValue('ingest_bronze_shard_failures_total', 'shard-0', { class: 'not_found' })).toBe(
      failuresBefore + 1,
    );
    expect(await w.ready()).toBe(false);
    expect(await checkpointOf(state)).toBe(first);
    // The shard keeps probing, and reads nothing more meanwhile: its buffer stays bounded.
    const errors = w.stats().errors;
    const gets = kinesis.calls.filter((c) => c.op === 'GetRecords').length;
    await new Promise((r) => setTimeout(r, 350));
    expect(w.stats().errors).toBeGreaterThan(errors);
    expect(kinesis.calls.filter((c) => c.op === 'GetRecords').length).toBe(gets);
    expect(await checkpointOf(state)).toBe(first);
    const failedLines = logs.filter((l) => l.msg.startsWith('bronze shard failed'));
    expect(failedLines).toHaveLength(1);
    expect(failedLines[0]).toMatchObject({ level: 50, shard: 'shard-0', failureClass: 'not_found' });
    expect(failedLines[0]?.err).toMatch(/NoSuchBucket/);

    // The bucket is back: b is written, then checkpointed; the failure clears.
    lake.failWith = undefined;
    await waitFor('b landed', () => w.stats().recordsLanded === 2);
    await waitFor('checkpointed past b', async () => (await checkpointOf(state)) === last);
    expect(condition()).toBeUndefined();
    expect(await metricValue('ingest_bronze_shard_failed', 'shard-0')).toBe(0);
    expect(w.stats().shards['shard-0']).toMatchObject({ state: 'reading' });
    expect(w.stats().shards['shard-0']?.error).toBeUndefined();
    expect(await w.ready()).toBe(true);
    expect(logs.filter((l) => l.msg.startsWith('bronze shard recovered'))).toHaveLength(1);
    await w.stop();
    expect(await landedIds(lake)).toEqual(['a', 'b']);
  });

  it('retries a retriable write failure for as long as it takes without marking the shard failed', async () => {
    const { kinesis, lake, state, make } = setup({ failedShardRetryBudgetSecs: 0.05 });
    kinesis.addShard('shard-0');
    const last = kinesis.put('shard-0', env('a'));
    lake.failWith = new StorageError('lake: PutObject failed: SlowDown', {
      retriable: true,
      failureClass: 'throttled',
    });
    const w = make();
    await w.start();
    await waitFor('many failed attempts', () => w.stats().errors >= 15);
    expect(w.stats().shards['shard-0']?.state).toBe('reading');
    expect(condition()).toBeUndefined();
    expect(await metricValue('ingest_bronze_shard_failed', 'shard-0')).toBe(0);
    expect(state.puts).toHaveLength(0);
    lake.failWith = undefined;
    await waitFor('a checkpointed', async () => (await checkpointOf(state)) === last);
    await w.stop();
    expect(await landedIds(lake)).toEqual(['a']);
  });

  it('marks a shard failed when a non-retriable Kinesis read failure outlasts the budget, and clears it once a read succeeds', async () => {
    const { kinesis, lake, make, logs } = setup({
      retryBaseDelayMs: 20,
      retryMaxDelayMs: 40,
      failedShardRetryBudgetSecs: 0.2,
      failedShardProbeIntervalSecs: 0.1,
    });
    kinesis.addShard('shard-0');
    kinesis.put('shard-0', env('a'));
    const denied = () =>
      Object.assign(new Error('not authorized'), {
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      });
    kinesis.getRecordsErrors.push(...Array.from({ length: 1_000 }, denied));
    const w = make();
    await w.start();
    await waitFor('condition set', () => condition() !== undefined);
    expect(condition()?.reason).toMatch(/^reading shard shard-0 fails .*\(http_4xx\).*AccessDeniedException/);
    expect(w.stats().shards['shard-0']?.state).toBe('failed');
    expect(await w.ready()).toBe(false);
    expect(await metricValue('ingest_bronze_shard_failed', 'shard-0')).toBe(1);
    kinesis.getRecordsErrors.length = 0;
    await waitFor('a landed', () => w.stats().recordsLanded === 1);
    expect(condition()).toBeUndefined();
    expect(w.stats().shards['shard-0']?.state).toBe('reading');
    expect(await metricValue('ingest_bronze_shard_failed', 'shard-0')).toBe(0);
    expect(logs.filter((l) => l.msg.startsWith('bronze shard failed'))).toHaveLength(1);
    await w.stop();
    expect(await landedIds(lake)).toEqual(['a']);
  });

  it('stop() on a failed shard returns within shutdownTimeoutMs without checkpointing, and a restart writes what was missing', async () => {
    const { kinesis, lake, state, make } = setup({
      failedShardRetryBudgetSecs: 0.1,
      failedShardProbeIntervalSecs: 30,
      shutdownTimeoutMs: 2_000,
    });
    kinesis.addShard('shard-0');
    const first = kinesis.put('shard-0', env('a'));
    const w = make();
    await w.start();
    await waitFor('a landed', () => w.stats().recordsLanded === 1);
    lake.failWith = noSuchBucket();
    const last = kinesis.put('shard-0', env('b'));
    await waitFor('shard failed', () => w.stats().shards['shard-0']?.state === 'failed');
    const t0 = Date.now();
    await w.stop();
    // Within the deadline, though the next probe was 30 s away: stopping wakes it for one last try.
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(await checkpointOf(state)).toBe(first);
    expect(condition()).toBeUndefined();

    lake.failWith = undefined;
    const again = make();
    await again.start();
    await waitFor('b landed', () => again.stats().recordsLanded === 1);
    await again.stop();
    expect(await checkpointOf(state)).toBe(last);
    expect(await landedIds(lake)).toEqual(['a', 'b']);
  });

  it('stop() while the lake fails retriably gives up at shutdownTimeoutMs without checkpointing', async () => {
    const { kinesis, lake, state, make } = setup({ bufferIntervalSecs: 900, shutdownTimeoutMs: 300 });
    kinesis.addShard('shard-0');
    kinesis.put('shard-0', env('a'));
    const w = make();
    await w.start();
    await waitFor('buffered', () => w.stats().recordsBuffered === 1);
    lake.failWith = new StorageError('lake: PutObject failed: connect ECONNREFUSED', {
      retriable: true,
      failureClass: 'network',
    });
    const t0 = Date.now();
    await w.stop();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1_000);
    expect(state.puts).toHaveLength(0);
    expect(lake.objects.size).toBe(0);
  });
});
