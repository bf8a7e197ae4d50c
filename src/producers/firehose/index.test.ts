import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../log.js';
import { createSink, SinkSchema, sinkResources } from '../registry.js';
import type { Delivery, OutgoingRecord } from '../types.js';
import {
  createFirehoseSink,
  DeliveryStreamUnusableError,
  FIREHOSE_LIMITS,
  type FirehoseSinkInput,
} from './index.js';
import { FakeFirehoseClient, type FirehoseEntryOutcome } from './testing.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const rec = (key: string, body: string | Uint8Array): OutgoingRecord => ({
  source: 'test.src',
  partitionKey: key,
  data: typeof body === 'string' ? enc.encode(body) : body,
});

let n = 0;
const config = (o: Partial<FirehoseSinkInput> = {}): FirehoseSinkInput => ({
  type: 'firehose',
  name: `fh-${++n}`,
  deliveryStreamName: 'bronze',
  lingerMs: 0,
  retry: { baseDelayMs: 0, maxDelayMs: 1, throttledBaseDelayMs: 0 },
  ...o,
});

function deadLetterSpy() {
  const letters: { reason: string; failureClass: string }[] = [];
  return {
    letters,
    put: vi.fn(async (l: { reason: string; failureClass: string }[]) => void letters.push(...l)),
  };
}

describe('firehose sink', () => {
  it('sends newline-delimited records, at most 500 per PutRecordBatch call', async () => {
    // Prepare
    const client = new FakeFirehoseClient();
    const sink = createFirehoseSink(config(), { deadLetters: deadLetterSpy(), logger: silentLogger, client });
    await sink.start();
    const records = Array.from({ length: 1_201 }, (_, i) => rec(`k${i}`, `{"i":${i}}`));
    // Act
    const deliveries = await sink.write(records);
    await sink.close();
    // Assess
    expect(deliveries.every((d) => d.status === 'delivered')).toBe(true);
    expect(client.calls.every((c) => c.Records.length <= 500)).toBe(true);
    expect(client.calls.reduce((s, c) => s + c.Records.length, 0)).toBe(1_201);
    expect(client.accepted.map((d) => dec.decode(d))).toEqual(records.map((_, i) => `{"i":${i}}\n`));
  });

  it('keeps each call within 4 MiB and dead-letters a record over 1,000 KiB (not 1 MiB) with its reason', async () => {
    const client = new FakeFirehoseClient();
    const dl = deadLetterSpy();
    const sink = createFirehoseSink(config(), { deadLetters: dl, logger: silentLogger, client });
    // 1,023,999 bytes + newline = exactly 1,024,000: fits. 1,024,000 + newline does not.
    const fits = new Uint8Array(FIREHOSE_LIMITS.maxRecordBytes - 1).fill(0x61);
    const tooLarge = new Uint8Array(FIREHOSE_LIMITS.maxRecordBytes).fill(0x62);
    const deliveries = await sink.write([
      rec('a', fits),
      rec('b', tooLarge),
      ...[1, 2, 3, 4].map((i) => rec(`c${i}`, fits)),
    ]);
    await sink.close();
    expect(deliveries.map((d) => d.status)).toEqual([
      'delivered',
      'dead_lettered',
      'delivered',
      'delivered',
      'delivered',
      'delivered',
    ]);
    expect((deliveries[1] as Extract<Delivery, { status: 'dead_lettered' }>).reason).toMatch(
      /1024001 bytes .* exceeds the limit of 1024000 bytes per record .*1,000 KiB/,
    );
    expect(dl.letters).toHaveLength(1);
    expect(dl.letters[0]!.failureClass).toBe('record_too_large');
    const callBytes = client.calls.map((c) => c.Records.reduce((s, r) => s + r.Data.byteLength, 0));
    expect(Math.max(...callBytes)).toBeLessThanOrEqual(FIREHOSE_LIMITS.maxBatchBytes);
    expect(client.calls.map((c) => c.Records.length)).toEqual([4, 1]);
  });

  it('resends only the entries FailedPutCount and their ErrorCode name, and dead-letters an invalid one', async () => {
    const client = new FakeFirehoseClient((input, call) =>
      input.Records.map((r): FirehoseEntryOutcome => {
        const body = dec.decode(r.Data).trim();
        if (body === '"bad"')
          return { errorCode: 'InvalidArgumentException', errorMessage: 'record is invalid' };
        if (call === 0 && body === '"b"') return { errorCode: 'ServiceUnavailableException' };
        if (call === 0 && body === '"d"') return { errorCode: 'InternalFailure' };
        return 'ok';
      }),
    );
    const dl = deadLetterSpy();
    const sink = createFirehoseSink(config(), { deadLetters: dl, logger: silentLogger, client });
    const deliveries = await sink.write(['"a"', '"b"', '"c"', '"d"', '"bad"'].map((b, i) => rec(`k${i}`, b)));
    await sink.close();
    expect(deliveries.map((d) => d.status)).toEqual([
      'delivered',
      'delivered',
      'delivered',
      'delivered',
      'dead_lettered',
    ]);
    expect(client.calls.map((c) => c.Records.map((r) => dec.decode(r.Data).trim()))).toEqual([
      ['"a"', '"b"', '"c"', '"d"', '"bad"'],
      ['"b"', '"d"'],
    ]);
    expect(client.accepted.map((d) => dec.decode(d).trim()).sort()).toEqual(['"a"', '"b"', '"c"', '"d"']);
    expect(dl.letters[0]!.reason).toMatch(/InvalidArgumentException: record is invalid/);
  });

  it('retries the whole call when FailedPutCount disagrees with the entries (cannot tell which failed)', async () => {
    const client = new FakeFirehoseClient();
    let calls = 0;
    client.putRecordBatch = async (input) => {
      client.calls.push(input);
      calls++;
      const RequestResponses = input.Records.map((_, i) => ({ RecordId: `r${calls}-${i}` }));
      return { FailedPutCount: calls === 1 ? 1 : 0, RequestResponses };
    };
    const sink = createFirehoseSink(config(), { deadLetters: deadLetterSpy(), logger: silentLogger, client });
    const deliveries = await sink.write([rec('a', '1'), rec('b', '2')]);
    await sink.close();
    expect(deliveries.map((d) => d.status)).toEqual(['delivered', 'delivered']);
    expect(client.calls.map((c) => c.Records.length)).toEqual([2, 2]);
  });

  it('fails start() on a missing or non-DirectPut delivery stream', async () => {
    const missing = new FakeFirehoseClient();
    missing.describeError = Object.assign(new Error('not found'), {
      name: 'ResourceNotFoundException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    const a = createFirehoseSink(config(), {
      deadLetters: deadLetterSpy(),
      logger: silentLogger,
      client: missing,
    });
    await expect(a.start()).rejects.toThrow(DeliveryStreamUnusableError);
    const kinesisSourced = new FakeFirehoseClient();
    kinesisSourced.summary = { status: 'ACTIVE', type: 'KinesisStreamAsSource' };
    const b = createFirehoseSink(config(), {
      deadLetters: deadLetterSpy(),
      logger: silentLogger,
      client: kinesisSourced,
    });
    await expect(b.start()).rejects.toThrow(/has source KinesisStreamAsSource: this sink needs a DirectPut/);
  });

  it('is one registry entry: parsed from sinks[], builds through createSink, names its delivery stream', async () => {
    const cfg = SinkSchema.parse({ type: 'firehose', deliveryStreamName: 'ingest-bronze' });
    expect(cfg.name).toBe('firehose');
    expect(sinkResources(cfg)).toEqual([
      { kind: 'firehose-delivery-stream', name: 'ingest-bronze', sink: 'firehose' },
    ]);
    const sink = await createSink(cfg, { deadLetters: deadLetterSpy(), logger: silentLogger });
    expect(sink.name).toBe('firehose');
    await sink.close();
    expect(() =>
      SinkSchema.parse({ type: 'firehose', deliveryStreamName: 'x', maxRecordBytes: 1_048_576 }),
    ).toThrow();
  });

  it('never loses or duplicates a record under random partial failures, and keeps every call within the limits (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 40_000 }), { minLength: 1, maxLength: 120 }),
        fc.array(fc.constantFrom('ok', 'ok', 'ServiceUnavailableException', 'InternalFailure'), {
          minLength: 1,
        }),
        async (sizes, script) => {
          let k = 0;
          const client = new FakeFirehoseClient((input) =>
            input.Records.map(() => {
              // Each scripted failure is used once, then everything succeeds: the run ends.
              const o = script[k++] ?? 'ok';
              return o === 'ok' ? 'ok' : { errorCode: o };
            }),
          );
          const sink = createFirehoseSink(config({ maxBatchRecords: 7, maxBatchBytes: 100_000 }), {
            deadLetters: deadLetterSpy(),
            logger: silentLogger,
            client,
          });
          const records = sizes.map((s, i) => rec(`k${i % 5}`, `${i}:${'x'.repeat(s)}`));
          const deliveries = await sink.write(records);
          await sink.close();
          expect(deliveries.every((d) => d.status === 'delivered')).toBe(true);
          const ids = client.accepted.map((d) => dec.decode(d).split(':')[0]);
          expect(ids.sort()).toEqual(records.map((_, i) => String(i)).sort());
          for (const c of client.calls) {
            expect(c.Records.length).toBeLessThanOrEqual(7);
            expect(c.Records.reduce((s, r) => s + r.Data.byteLength, 0)).toBeLessThanOrEqual(100_000);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
