import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadLetterQueue } from '../../deadletter/index.js';
import { openLake } from '../../lake/index.js';
import { silentLogger } from '../../log.js';
import { readiness } from '../../telemetry/index.js';
import { producerFailingSeconds } from '../health.js';
import { producerSerialisedKeysTotal } from '../telemetry.js';
import type { Delivery, OutgoingRecord } from '../types.js';
import { bucketHashKey, hashBucketOf } from './aggregation.js';
import {
  createKinesisSink,
  type KinesisSinkInput,
  ProducerClosedError,
  SinkAbandonedError,
  StreamNotFoundError,
} from './index.js';
import { decodeAggregated, isAggregated } from './kpl.js';
import {
  producerAggregatedRecordsTotal,
  producerBackpressureWaitsTotal,
  producerBufferBytes,
  producerKinesisRecordsTotal,
  producerRecordsTotal,
  producerThrottledTotal,
} from './telemetry.js';
import { awsError, FakePutRecordsClient } from './testing.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

function rec(partitionKey: string, body: string, source = 'test.src'): OutgoingRecord {
  return { source, partitionKey, data: enc.encode(body) };
}

let sinkCounter = 0;
function config(overrides: Partial<KinesisSinkInput> = {}): KinesisSinkInput {
  return { type: 'kinesis', name: `unit-${++sinkCounter}`, streamName: 'orders', lingerMs: 50, ...overrides };
}

async function metricValue(
  metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> },
  labels: Record<string, string>,
): Promise<number> {
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((n, v) => n + v.value, 0);
}

const noDeadLetters = {
  put: vi.fn(async () => {
    throw new Error('no dead letters expected in this test');
  }),
};

let lakeDir: string;

async function readDeadLetters(dir: string): Promise<Record<string, unknown>[]> {
  const lake = openLake(`file://${dir}`);
  const keys = await lake.list('dead-letter/');
  const lines: Record<string, unknown>[] = [];
  for (const key of keys) {
    const body = await lake.get(key);
    for (const line of gunzipSync(body!).toString('utf8').split('\n').filter(Boolean))
      lines.push(JSON.parse(line));
  }
  return lines;
}

beforeEach(async () => {
  lakeDir = await mkdtemp(join(tmpdir(), 'kinesis-sink-'));
});

afterEach(async () => {
  vi.useRealTimers();
  await rm(lakeDir, { recursive: true, force: true });
});

describe('partial failures', () => {
  it('resends only the failed entries, then delivers everything', async () => {
    vi.useFakeTimers();
    const client = new FakePutRecordsClient((input, call) =>
      input.Records.map((r) =>
        call === 0 && (r.PartitionKey === 'k1' || r.PartitionKey === 'k3')
          ? {
              errorCode:
                r.PartitionKey === 'k1' ? 'ProvisionedThroughputExceededException' : 'InternalFailure',
            }
          : 'ok',
      ),
    );
    const sink = createKinesisSink(config(), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
      random: () => 0.5,
    });
    const records = ['k0', 'k1', 'k2', 'k3', 'k4'].map((k) => rec(k, `body-${k}`));
    const done = sink.write(records);
    await vi.advanceTimersByTimeAsync(50);
    expect(client.calls).toHaveLength(1);
    expect(client.calls[0]!.Records.map((r) => r.PartitionKey)).toEqual(['k0', 'k1', 'k2', 'k3', 'k4']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(client.calls).toHaveLength(2);
    expect(client.calls[1]!.Records.map((r) => [r.PartitionKey, dec.decode(r.Data)])).toEqual([
      ['k1', 'body-k1'],
      ['k3', 'body-k3'],
    ]);
    const deliveries = await done;
    expect(deliveries.map((d) => d.status)).toEqual(Array(5).fill('delivered'));
    // Each delivery carries the sequence number Kinesis gave that very record.
    for (const [i, d] of deliveries.entries()) {
      const accepted = client.accepted.find((a) => a.PartitionKey === records[i]!.partitionKey)!;
      expect(d).toEqual({
        status: 'delivered',
        shardId: accepted.ShardId,
        sequenceNumber: accepted.SequenceNumber,
      });
    }
    expect(await metricValue(producerRecordsTotal, { sink: sink.name, outcome: 'retried' })).toBe(2);
    expect(await metricValue(producerRecordsTotal, { sink: sink.name, outcome: 'delivered' })).toBe(5);
    await sink.close();
  });

  it('holds back newer records of a key until its failed record is accepted (strict ordering)', async () => {
    vi.useFakeTimers();
    const client = new FakePutRecordsClient((input, call) =>
      input.Records.map((r) =>
        call === 0 && r.PartitionKey === 'a' ? { errorCode: 'InternalFailure' } : 'ok',
      ),
    );
    const sink = createKinesisSink(config({ lingerMs: 0 }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
      random: () => 0.5,
    });
    const done = sink.write([rec('a', 'a0'), rec('a', 'a1'), rec('b', 'b0'), rec('a', 'a2'), rec('b', 'b1')]);
    await vi.advanceTimersByTimeAsync(5_000);
    await done;
    const sent = client.calls.map((c) => c.Records.map((r) => dec.decode(r.Data)));
    expect(sent[0]).toEqual(['a0', 'b0']);
    // a0 failed: b1 may go on, a1 may not overtake a0.
    expect(sent[1]).toEqual(['b1']);
    expect(sent[2]).toEqual(['a0']);
    expect(client.accepted.filter((r) => r.PartitionKey === 'a').map((r) => dec.decode(r.Data))).toEqual([
      'a0',
      'a1',
      'a2',
    ]);
    await sink.close();
  });

  it('relaxed ordering packs several records of a key into one call, in order', async () => {
    const client = new FakePutRecordsClient();
    const sink = createKinesisSink(config({ lingerMs: 0, ordering: 'relaxed' }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
    });
    await sink.write([rec('a', 'a0'), rec('a', 'a1'), rec('b', 'b0'), rec('a', 'a2')]);
    expect(client.calls.map((c) => c.Records.map((r) => dec.decode(r.Data)))).toEqual([
      ['a0', 'a1', 'b0', 'a2'],
    ]);
    await sink.close();
  });
});

describe('throttling', () => {
  it('backs off longer after ProvisionedThroughputExceededException than after InternalFailure', async () => {
    vi.useFakeTimers();
    const retry = { baseDelayMs: 100, maxDelayMs: 10_000, throttledBaseDelayMs: 1_000 };
    const run = async (fail: () => never) => {
      let first = true;
      const client = new FakePutRecordsClient((input) => {
        if (first) {
          first = false;
          fail();
        }
        return input.Records.map(() => 'ok');
      });
      const sink = createKinesisSink(config({ lingerMs: 0, retry }), {
        deadLetters: noDeadLetters,
        logger: silentLogger,
        client,
        random: () => 0.99,
      });
      const done = sink.write([rec('k', 'x')]);
      await vi.advanceTimersByTimeAsync(0);
      expect(client.calls).toHaveLength(1);
      let waited = 0;
      while (client.calls.length < 2 && waited < 20_000) {
        await vi.advanceTimersByTimeAsync(10);
        waited += 10;
      }
      expect((await done)[0]!.status).toBe('delivered');
      await sink.close();
      return { waited, sink };
    };
    const throttled = await run(() => {
      throw awsError('ProvisionedThroughputExceededException');
    });
    const internal = await run(() => {
      throw awsError('InternalFailureException', 500);
    });
    // Full jitter with random 0.99: 990 ms after throttling, 99 ms after an internal failure.
    expect(throttled.waited).toBeGreaterThanOrEqual(990);
    expect(throttled.waited).toBeLessThanOrEqual(1_000);
    expect(internal.waited).toBeGreaterThanOrEqual(90);
    expect(internal.waited).toBeLessThanOrEqual(110);
    expect(await metricValue(producerThrottledTotal, { sink: throttled.sink.name })).toBe(1);
    expect(await metricValue(producerThrottledTotal, { sink: internal.sink.name })).toBe(0);
  });

  it('grows the backoff exponentially up to maxDelayMs', async () => {
    vi.useFakeTimers();
    const callTimes: number[] = [];
    const client = new FakePutRecordsClient((input, call) => {
      callTimes.push(Date.now());
      return input.Records.map(() =>
        call < 4 ? { errorCode: 'ProvisionedThroughputExceededException' } : 'ok',
      );
    });
    const sink = createKinesisSink(
      config({
        lingerMs: 0,
        retry: { baseDelayMs: 10, maxDelayMs: 3_000, throttledBaseDelayMs: 1_000 },
      }),
      { deadLetters: noDeadLetters, logger: silentLogger, client, random: () => 0.999 },
    );
    const done = sink.write([rec('k', 'x')]);
    await vi.advanceTimersByTimeAsync(20_000);
    expect((await done)[0]!.status).toBe('delivered');
    const gaps = callTimes.slice(1).map((t, i) => t - callTimes[i]!);
    expect(gaps).toEqual([999, 1998, 2997, 2997]);
    await sink.close();
  });
});

describe('dead letters', () => {
  it('splits a batch the service rejects as invalid and dead-letters only the bad record, with reason and class', async () => {
    const client = new FakePutRecordsClient((input) => {
      if (input.Records.some((r) => r.PartitionKey === 'bad')) throw awsError('ValidationException');
      return input.Records.map(() => 'ok');
    });
    const deadLetters = new DeadLetterQueue(openLake(`file://${lakeDir}`));
    const sink = createKinesisSink(config({ lingerMs: 0 }), { deadLetters, logger: silentLogger, client });
    const deliveries = await sink.write([rec('a', '{"n":1}'), rec('bad', '{"n":2}'), rec('c', '{"n":3}')]);
    expect(deliveries.map((d) => d.status)).toEqual(['delivered', 'dead_lettered', 'delivered']);
    expect((deliveries[1] as Extract<Delivery, { status: 'dead_lettered' }>).reason).toMatch(
      /not retriable.*ValidationException/,
    );
    // One call of three, then one call per record.
    expect(client.calls.map((c) => c.Records.length)).toEqual([3, 1, 1, 1]);
    const letters = await readDeadLetters(lakeDir);
    expect(letters.map((l) => [l.partition_key, l.data, l.failure_class, l.component, l.source])).toEqual([
      ['bad', '{"n":2}', 'http_4xx', 'kinesis', 'test.src'],
    ]);
    expect(String(letters[0]!.reason)).toContain('orders');
    expect(await metricValue(producerRecordsTotal, { sink: sink.name, outcome: 'dead_lettered' })).toBe(1);
    await sink.close();
  });

  it('holds records through a 60 s outage of any retriable kind and delivers them all, dead-lettering none', async () => {
    vi.useFakeTimers();
    const t0 = Date.now();
    const kinds = [
      () => awsError('ResourceNotFoundException'),
      () => awsError('AccessDeniedException'),
      () => awsError('KMSDisabledException'),
      () => awsError('InternalFailureException', 500),
      () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    ];
    const client = new FakePutRecordsClient((input, call) => {
      if (Date.now() - t0 < 60_000) throw kinds[call % kinds.length]!();
      return input.Records.map(() => 'ok');
    });
    const sink = createKinesisSink(config({ lingerMs: 0 }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
    });
    const done = sink.write([rec('a', '1'), rec('b', '2')]);
    await vi.advanceTimersByTimeAsync(30_000);
    // While failing: not ready, with the reason, and the failing gauge counts the seconds.
    const condition = readiness.list().find((c) => c.key === `sink:${sink.name}`);
    expect(condition?.reason).toMatch(/PutRecords to stream "orders" failing for \d+ s; records are held/);
    const failing = await metricValue(producerFailingSeconds, { sink: sink.name });
    expect(failing).toBeGreaterThanOrEqual(25);
    expect(failing).toBeLessThanOrEqual(30);
    expect(sink.stats().bufferedRecords).toBe(2);
    await vi.advanceTimersByTimeAsync(45_000);
    expect((await done).map((d) => d.status)).toEqual(['delivered', 'delivered']);
    expect(client.calls.length).toBeGreaterThan(6);
    expect(readiness.list().find((c) => c.key === `sink:${sink.name}`)).toBeUndefined();
    expect(await metricValue(producerFailingSeconds, { sink: sink.name })).toBe(0);
    expect(await metricValue(producerRecordsTotal, { sink: sink.name, outcome: 'dead_lettered' })).toBe(0);
    await sink.close();
  });

  it('abandon() rejects unacknowledged writes with a retriable error and dead-letters nothing', async () => {
    vi.useFakeTimers();
    const client = new FakePutRecordsClient(() => {
      throw awsError('ServiceUnavailableException', 503);
    });
    const sink = createKinesisSink(config({ lingerMs: 0, bufferMaxRecords: 2 }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
    });
    const first = sink.write([rec('a', '1'), rec('b', '2')]);
    const waiting = sink.write([rec('c', '3')]);
    const firstResult = first.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    const waitingResult = waiting.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await vi.advanceTimersByTimeAsync(5_000);
    const closed = sink.close();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.abandon('shutdown deadline')).toBe(2);
    const e1 = await firstResult;
    expect(e1).toBeInstanceOf(SinkAbandonedError);
    expect((e1 as SinkAbandonedError).retriable).toBe(true);
    expect(await waitingResult).toBeInstanceOf(SinkAbandonedError);
    await vi.advanceTimersByTimeAsync(20_000);
    await closed;
    expect(noDeadLetters.put).not.toHaveBeenCalled();
  });

  it('dead-letters oversized records and invalid partition keys at once and never sends them', async () => {
    const client = new FakePutRecordsClient();
    const deadLetters = new DeadLetterQueue(openLake(`file://${lakeDir}`));
    const sink = createKinesisSink(config({ lingerMs: 0, maxRecordBytes: 100 }), {
      deadLetters,
      logger: silentLogger,
      client,
    });
    const big = rec('key', 'x'.repeat(98)); // 98 + 3 = 101 bytes
    const fits = rec('key', 'y'.repeat(97)); // exactly 100 bytes
    const emptyKey = rec('', 'z');
    const longKey = rec('k'.repeat(257), 'w');
    const deliveries = await sink.write([big, fits, emptyKey, longKey]);
    expect(deliveries.map((d) => d.status)).toEqual([
      'dead_lettered',
      'delivered',
      'dead_lettered',
      'dead_lettered',
    ]);
    expect((deliveries[0] as { reason: string }).reason).toMatch(
      /101 bytes .*data 98 \+ partition key 3.* 100 bytes/,
    );
    expect((deliveries[2] as { reason: string }).reason).toMatch(/0 characters/);
    expect((deliveries[3] as { reason: string }).reason).toMatch(/257 characters/);
    const sent = client.calls.flatMap((c) => c.Records.map((r) => dec.decode(r.Data)));
    expect(sent).toEqual(['y'.repeat(97)]);
    const letters = await readDeadLetters(lakeDir);
    expect(letters.map((l) => l.failure_class).sort()).toEqual(['record_too_large', 'sink', 'sink']);
    expect(letters.find((l) => l.failure_class === 'record_too_large')!.data).toBe('x'.repeat(98));
    await sink.close();
  });

  it('keeps retrying a failing dead-letter write and never drops the record', async () => {
    let puts = 0;
    const stored: unknown[] = [];
    const deadLetters = {
      put: async (letters: unknown[]) => {
        puts++;
        if (puts <= 3) throw new Error('lake down');
        stored.push(...letters);
      },
    };
    const sink = createKinesisSink(config({ lingerMs: 0, maxRecordBytes: 10 }), {
      deadLetters,
      logger: silentLogger,
      client: new FakePutRecordsClient(),
      sleep: async () => {},
    });
    const [d] = await sink.write([rec('k', 'this is too long')]);
    expect(d!.status).toBe('dead_lettered');
    expect(puts).toBe(4);
    expect(stored).toHaveLength(1);
    expect(sink.stats().bufferedRecords).toBe(0);
    await sink.close();
  });
});

describe('backpressure', () => {
  it('blocks writers while the buffer is full, never exceeds the byte cap, resumes when Kinesis answers', async () => {
    vi.useFakeTimers();
    const answers: (() => void)[] = [];
    let stalled = true;
    const client = new FakePutRecordsClient(async (input) => {
      if (stalled) await new Promise<void>((r) => answers.push(r));
      return input.Records.map(() => 'ok');
    });
    // Each record is 99 data bytes + 1 key byte = 100 bytes; the buffer holds 3.
    const sink = createKinesisSink(config({ bufferMaxBytes: 300, lingerMs: 10, maxInFlightBatches: 2 }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
    });
    const keys = 'abcdefghij'.split('');
    const records = keys.map((k) => rec(k, k.repeat(99)));
    let settled = false;
    const first = sink.write(records.slice(0, 6)).then((d) => {
      settled = true;
      return d;
    });
    const second = sink.write(records.slice(6));
    let maxBytes = 0;
    for (let i = 0; i < 50; i++) {
      await vi.advanceTimersByTimeAsync(100);
      maxBytes = Math.max(
        maxBytes,
        sink.stats().bufferedBytes,
        await metricValue(producerBufferBytes, { sink: sink.name }),
      );
      expect(sink.stats().bufferedRecords).toBeLessThanOrEqual(3);
    }
    expect(settled).toBe(false);
    expect(maxBytes).toBe(300);
    expect(sink.stats().waitingRecords).toBeGreaterThan(0);
    expect(await metricValue(producerBackpressureWaitsTotal, { sink: sink.name })).toBe(2);
    stalled = false;
    for (const answer of answers.splice(0)) answer();
    await vi.advanceTimersByTimeAsync(1_000);
    const deliveries = [...(await first), ...(await second)];
    expect(deliveries.every((d) => d.status === 'delivered')).toBe(true);
    expect(client.accepted.map((r) => dec.decode(r.Data)).sort()).toEqual(
      records.map((r) => dec.decode(r.data)).sort(),
    );
    expect(sink.stats()).toMatchObject({ bufferedRecords: 0, bufferedBytes: 0, waitingRecords: 0 });
    await sink.close();
  });
});

describe('strict ordering of a hot key', () => {
  it('a key serialised for more than a second logs one warning and counts once; other keys do not', async () => {
    vi.useFakeTimers();
    try {
      const lines: Record<string, unknown>[] = [];
      const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
      // Every call takes 300 ms: six records of one key need six calls in a row (1.8 s).
      const client = new FakePutRecordsClient(
        (input) => new Promise((r) => setTimeout(() => r(input.Records.map(() => 'ok' as const)), 300)),
      );
      const cfg = config({ lingerMs: 0 });
      const sink = createKinesisSink(cfg, { deadLetters: noDeadLetters, logger, client });
      const hot = Array.from({ length: 6 }, (_, i) => rec('hot', `h${i}`));
      const cold = Array.from({ length: 6 }, (_, i) => rec(`cold-${i}`, `c${i}`));
      const done = sink.write([...hot, ...cold]);
      await vi.advanceTimersByTimeAsync(2_500);
      expect((await done).every((d) => d.status === 'delivered')).toBe(true);
      expect(client.calls).toHaveLength(6);
      await sink.close();
      expect(await metricValue(producerSerialisedKeysTotal, { sink: cfg.name! })).toBe(1);
      const warnings = lines.filter((l) => l.event === 'partition_key_serialised');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ exampleKey: 'hot', records: { serialised: 1 } });
      expect(warnings[0]!.waitedMs as number).toBeGreaterThan(1_000);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a key whose records each wait less than a second is not reported', async () => {
    const client = new FakePutRecordsClient();
    const cfg = config({ lingerMs: 0 });
    const sink = createKinesisSink(cfg, { deadLetters: noDeadLetters, logger: silentLogger, client });
    await sink.write(Array.from({ length: 5 }, (_, i) => rec('hot', `h${i}`)));
    await sink.close();
    expect(client.calls).toHaveLength(5);
    expect(await metricValue(producerSerialisedKeysTotal, { sink: cfg.name! })).toBe(0);
  });
});

describe('lifecycle', () => {
  it('flush() sends a lingering batch at once', async () => {
    vi.useFakeTimers();
    const client = new FakePutRecordsClient();
    const sink = createKinesisSink(config({ lingerMs: 60_000 }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
    });
    const done = sink.write([rec('a', '1'), rec('b', '2')]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(client.calls).toHaveLength(0);
    await sink.flush();
    expect(client.calls).toHaveLength(1);
    expect((await done).map((d) => d.status)).toEqual(['delivered', 'delivered']);
    await sink.close();
  });

  it('close() delivers what was written, then rejects writes with a clear error', async () => {
    const client = new FakePutRecordsClient();
    const sink = createKinesisSink(config({ lingerMs: 60_000 }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
    });
    const done = sink.write([rec('a', '1')]);
    await sink.close();
    expect((await done)[0]!.status).toBe('delivered');
    await expect(sink.write([rec('a', '2')])).rejects.toThrow(ProducerClosedError);
    await expect(sink.write([rec('a', '2')])).rejects.toThrow(/closed/);
    expect(client.accepted).toHaveLength(1);
  });

  it('start() throws a non-retriable error naming the stream and endpoint when the stream is missing', async () => {
    const client = new FakePutRecordsClient();
    client.describeError = awsError('ResourceNotFoundException');
    const sink = createKinesisSink(config({ streamName: 'nope' }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
    });
    const err = await sink.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamNotFoundError);
    expect((err as StreamNotFoundError).retriable).toBe(false);
    expect((err as Error).message).toContain('"nope"');
    expect((err as Error).message).toContain('fake://kinesis');
    client.describeError = undefined;
    await expect(sink.start()).resolves.toBeUndefined();
  });

  it('start() waits for an unreachable stream (not ready, with the reason), fails fast on a refused one, and gives up when aborted', async () => {
    vi.useFakeTimers();
    const client = new FakePutRecordsClient();
    client.describeError = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const sink = createKinesisSink(config({ streamName: 'later' }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
    });
    let started = false;
    const starting = sink.start().then(() => {
      started = true;
    });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(started).toBe(false);
    expect(readiness.list().find((c) => c.key === `sink:${sink.name}`)?.reason).toMatch(
      /starting: cannot describe Kinesis stream "later".*ECONNREFUSED.*retrying/,
    );
    client.describeError = undefined;
    await vi.advanceTimersByTimeAsync(15_000);
    await starting;
    expect(started).toBe(true);
    expect(readiness.list().find((c) => c.key === `sink:${sink.name}`)).toBeUndefined();

    client.describeError = awsError('AccessDeniedException');
    await expect(sink.start()).rejects.toThrow(/AccessDeniedException/);

    client.describeError = awsError('ServiceUnavailableException', 503);
    const ac = new AbortController();
    const aborted = sink.start(ac.signal).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1_000);
    ac.abort();
    expect(await aborted).toMatchObject({ message: expect.stringMatching(/ServiceUnavailable/) });
    expect(readiness.list().find((c) => c.key === `sink:${sink.name}`)).toBeUndefined();
  });

  it('ready() is true only for ACTIVE or UPDATING streams that answer', async () => {
    const client = new FakePutRecordsClient();
    const sink = createKinesisSink(config(), { deadLetters: noDeadLetters, logger: silentLogger, client });
    expect(await sink.ready()).toBe(true);
    client.status = 'UPDATING';
    expect(await sink.ready()).toBe(true);
    client.status = 'CREATING';
    expect(await sink.ready()).toBe(false);
    client.status = 'ACTIVE';
    client.describeError = awsError('InternalFailureException', 500);
    expect(await sink.ready()).toBe(false);
  });

  it('rejects an invalid config with a ConfigError', () => {
    expect(() =>
      createKinesisSink(
        { type: 'kinesis', streamName: 's', maxBatchRecords: 501 },
        { deadLetters: noDeadLetters, logger: silentLogger },
      ),
    ).toThrow(/maxBatchRecords/);
  });
});

describe('limits', () => {
  it('dead-letters a record that could never fit a batch when maxBatchBytes < maxRecordBytes', async () => {
    const client = new FakePutRecordsClient();
    const letters: { reason: string }[] = [];
    const sink = createKinesisSink(config({ lingerMs: 0, maxBatchBytes: 50 }), {
      deadLetters: { put: async (l) => void letters.push(...l) },
      logger: silentLogger,
      client,
    });
    const deliveries = await sink.write([rec('k', 'x'.repeat(60)), rec('k', 'ok')]);
    expect(deliveries.map((d) => d.status)).toEqual(['dead_lettered', 'delivered']);
    expect(letters[0]!.reason).toMatch(/61 bytes.*limit of 50 bytes/);
    await sink.close();
  });

  it('admits concurrent writes in call order, even when the first one waits for space', async () => {
    const client = new FakePutRecordsClient();
    const sink = createKinesisSink(config({ lingerMs: 1, bufferMaxRecords: 2 }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
    });
    const a = sink.write(['1', '2', '3', '4'].map((n) => rec('k', `a${n}`)));
    const b = sink.write(['1', '2'].map((n) => rec('k', `b${n}`)));
    await Promise.all([a, b]);
    expect(client.accepted.map((r) => dec.decode(r.Data))).toEqual(['a1', 'a2', 'a3', 'a4', 'b1', 'b2']);
    await sink.close();
  });
});

describe('aggregation', () => {
  const users = (r: { Data: Uint8Array; PartitionKey: string }) =>
    isAggregated(r.Data)
      ? decodeAggregated(r.Data).map((u) => ({ key: u.partitionKey, body: dec.decode(u.data) }))
      : [{ key: r.PartitionKey, body: dec.decode(r.Data) }];

  it('without hashBuckets, packs by shard: one bucket per open shard found at start', async () => {
    const client = new FakePutRecordsClient();
    client.openShardCount = 8;
    const sink = createKinesisSink(config({ lingerMs: 0, aggregation: { enabled: true } }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
    });
    await sink.start();
    const records = Array.from({ length: 400 }, (_, i) => rec(`key-${i}`, `{"n":${i}}`));
    await sink.write(records);
    await sink.close();
    const sent = client.calls.flatMap((c) => c.Records);
    expect(sent).toHaveLength(8);
    for (const r of sent) {
      const buckets = new Set(users(r).map((u) => hashBucketOf(u.key, 8)));
      expect(buckets.size).toBe(1);
      expect(r.ExplicitHashKey).toBe(bucketHashKey([...buckets][0]!, 8));
    }
    expect(sent.flatMap(users)).toHaveLength(400);
  });

  it('packs many records of distinct keys into one aggregate per hash bucket, each with the bucket hash key', async () => {
    vi.useFakeTimers();
    const client = new FakePutRecordsClient();
    const sink = createKinesisSink(config({ aggregation: { enabled: true, hashBuckets: 4 } }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
    });
    const records = Array.from({ length: 200 }, (_, i) => rec(`key-${i}`, `{"n":${i}}`));
    const done = sink.write(records);
    await vi.advanceTimersByTimeAsync(50);
    const deliveries = await done;
    expect(client.calls).toHaveLength(1);
    const sent = client.calls[0]!.Records;
    expect(sent).toHaveLength(4);
    for (const r of sent) {
      expect(isAggregated(r.Data)).toBe(true);
      const inside = users(r);
      // The aggregate is keyed by its first record, and routed by the bucket of all its records.
      expect(r.PartitionKey).toBe(inside[0]!.key);
      const buckets = new Set(inside.map((u) => hashBucketOf(u.key, 4)));
      expect(buckets.size).toBe(1);
      expect(r.ExplicitHashKey).toBe(bucketHashKey([...buckets][0]!, 4));
    }
    // Every record is in exactly one aggregate, each bucket's records in write order.
    expect(
      sent
        .flatMap(users)
        .map((u) => u.body)
        .sort(),
    ).toEqual(records.map((r) => dec.decode(r.data)).sort());
    for (const r of sent) {
      const ns = users(r).map((u) => (JSON.parse(u.body) as { n: number }).n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    // Each delivery names its aggregate's sequence number.
    const seqOf = new Map(client.accepted.flatMap((a) => users(a).map((u) => [u.body, a.SequenceNumber])));
    for (const [i, d] of deliveries.entries())
      expect(d).toMatchObject({
        status: 'delivered',
        sequenceNumber: seqOf.get(dec.decode(records[i]!.data)),
      });
    const labels = { sink: sink.name };
    expect(await metricValue(producerRecordsTotal, { ...labels, outcome: 'delivered' })).toBe(200);
    expect(await metricValue(producerKinesisRecordsTotal, { ...labels, kind: 'aggregate' })).toBe(4);
    expect(await metricValue(producerKinesisRecordsTotal, { ...labels, kind: 'single' })).toBe(0);
    expect(await metricValue(producerAggregatedRecordsTotal, labels)).toBe(200);
    await sink.close();
  });

  it('keeps aggregates within aggregation.maxBytes and calls within the batch limits; a lone record goes as itself', async () => {
    vi.useFakeTimers();
    const client = new FakePutRecordsClient();
    const sink = createKinesisSink(
      config({ maxBatchRecords: 3, aggregation: { enabled: true, maxBytes: 1_000, hashBuckets: 1 } }),
      { deadLetters: noDeadLetters, logger: silentLogger, client },
    );
    const records = Array.from({ length: 40 }, (_, i) => rec(`k${i}`, 'x'.repeat(100)));
    records.push(rec('big', 'y'.repeat(2_000)));
    const done = sink.write(records);
    await vi.advanceTimersByTimeAsync(1_000);
    await done;
    for (const call of client.calls) {
      expect(call.Records.length).toBeLessThanOrEqual(3);
      for (const r of call.Records) {
        const size = r.Data.byteLength + Buffer.byteLength(r.PartitionKey);
        if (isAggregated(r.Data)) expect(size).toBeLessThanOrEqual(1_000);
        else expect(r.PartitionKey).toBe('big');
      }
    }
    // 40 records of 100 bytes, at most 8 per 1000-byte aggregate, plus the big one on its own.
    expect(client.accepted).toHaveLength(6);
    expect(client.accepted.flatMap(users)).toHaveLength(41);
    await sink.close();
  });

  it('strict ordering lets a hot key share its one aggregate in flight, in order, and never sends a second one alongside', async () => {
    vi.useFakeTimers();
    let inFlight = 0;
    let maxInFlightOfHot = 0;
    const client = new FakePutRecordsClient(async (input) => {
      const hot = input.Records.filter((r) => users(r).some((u) => u.key === 'hot')).length;
      inFlight += hot;
      maxInFlightOfHot = Math.max(maxInFlightOfHot, inFlight);
      await new Promise((r) => setTimeout(r, 10));
      inFlight -= hot;
      return input.Records.map(() => 'ok' as const);
    });
    const sink = createKinesisSink(
      config({
        lingerMs: 0,
        maxInFlightBatches: 4,
        aggregation: { enabled: true, maxBytes: 200, hashBuckets: 1 },
      }),
      { deadLetters: noDeadLetters, logger: silentLogger, client },
    );
    const done = sink.write(
      Array.from({ length: 30 }, (_, i) => rec('hot', `h${String(i).padStart(2, '0')}`)),
    );
    await vi.advanceTimersByTimeAsync(1_000);
    await done;
    expect(maxInFlightOfHot).toBe(1);
    expect(client.accepted.length).toBeLessThan(30);
    expect(client.accepted.flatMap(users).map((u) => u.body)).toEqual(
      Array.from({ length: 30 }, (_, i) => `h${String(i).padStart(2, '0')}`),
    );
    await sink.close();
  });

  it('retries a failed aggregate entry as a whole, ahead of newer records', async () => {
    vi.useFakeTimers();
    const client = new FakePutRecordsClient((input, call) =>
      input.Records.map(() => (call === 0 ? { errorCode: 'InternalFailure' } : 'ok')),
    );
    const sink = createKinesisSink(config({ aggregation: { enabled: true, hashBuckets: 1 } }), {
      deadLetters: noDeadLetters,
      logger: silentLogger,
      client,
      random: () => 0.5,
    });
    const first = sink.write(['a', 'b', 'c'].map((k) => rec(k, `${k}0`)));
    await vi.advanceTimersByTimeAsync(50);
    const second = sink.write(['a', 'd'].map((k) => rec(k, `${k}1`)));
    await vi.advanceTimersByTimeAsync(2_000);
    const deliveries = [...(await first), ...(await second)];
    expect(deliveries.every((d) => d.status === 'delivered')).toBe(true);
    expect(client.calls[0]!.Records.flatMap(users).map((u) => u.body)).toEqual(['a0', 'b0', 'c0']);
    // The retried records come first; a1 follows a0 (same aggregate, after it).
    expect(client.calls[1]!.Records.flatMap(users).map((u) => u.body)).toEqual([
      'a0',
      'b0',
      'c0',
      'a1',
      'd1',
    ]);
    expect(await metricValue(producerRecordsTotal, { sink: sink.name, outcome: 'retried' })).toBe(3);
    await sink.close();
  });

  it('dead-letters each user record of an aggregate the service rejects as invalid, with the reason', async () => {
    vi.useFakeTimers();
    const client = new FakePutRecordsClient(() => {
      throw awsError('ValidationException');
    });
    const letters: { partitionKey?: string; reason: string; data: Uint8Array }[] = [];
    const sink = createKinesisSink(config({ aggregation: { enabled: true, hashBuckets: 1 } }), {
      deadLetters: { put: async (l) => void letters.push(...l) },
      logger: silentLogger,
      client,
    });
    const done = sink.write(['a', 'b', 'c'].map((k) => rec(k, `${k}0`)));
    await vi.advanceTimersByTimeAsync(50);
    const deliveries = await done;
    expect(client.calls).toHaveLength(1);
    expect(client.calls[0]!.Records).toHaveLength(1);
    expect(deliveries.map((d) => d.status)).toEqual(['dead_lettered', 'dead_lettered', 'dead_lettered']);
    expect(letters.map((l) => [l.partitionKey, dec.decode(l.data)])).toEqual([
      ['a', 'a0'],
      ['b', 'b0'],
      ['c', 'c0'],
    ]);
    for (const l of letters) expect(l.reason).toMatch(/not retriable.*ValidationException/);
    await sink.close();
  });

  it('rejects aggregation.maxBytes above maxRecordBytes', () => {
    expect(() =>
      createKinesisSink(
        config({ maxRecordBytes: 10_000, aggregation: { enabled: true, maxBytes: 20_000 } }),
        {
          deadLetters: noDeadLetters,
          logger: silentLogger,
          client: new FakePutRecordsClient(),
        },
      ),
    ).toThrow(/aggregation\.maxBytes \(20000\) must be <= maxRecordBytes \(10000\)/);
  });
});
