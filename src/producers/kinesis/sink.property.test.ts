import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../log.js';
import type { OutgoingRecord } from '../types.js';
import { recordBytes } from './batcher.js';
import { createKinesisSink } from './index.js';
import { FakePutRecordsClient } from './testing.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The sink end to end against a fake client that fails random entries (and sometimes whole calls):
 * every record is accepted exactly once, each key's records are accepted in write order, and no call
 * breaks the batch limits.
 */
describe('kinesis sink (property)', () => {
  it('never loses, duplicates or reorders a key, and keeps every call within the limits', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.array(
            fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd'), size: fc.integer({ min: 0, max: 40 }) }),
            {
              minLength: 1,
              maxLength: 25,
            },
          ),
          { minLength: 1, maxLength: 3 },
        ),
        fc.array(fc.constantFrom('ok', 'ok', 'throttle', 'internal'), { minLength: 1, maxLength: 30 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 7 }),
        fc.record({
          maxBatchRecords: fc.integer({ min: 1, max: 6 }),
          maxBatchBytes: fc.integer({ min: 60, max: 200 }),
          maxInFlightBatches: fc.integer({ min: 1, max: 3 }),
          bufferMaxRecords: fc.integer({ min: 1, max: 20 }),
        }),
        async (writes, entryPattern, callFails, limits) => {
          run++;
          // Each record fails at most 3 times, so every record is eventually accepted.
          const failures = new Map<string, number>();
          let entryTick = 0;
          let callTick = 0;
          // Violations are collected, not thrown: a throw here would look like a failed call to the sink.
          const violations: string[] = [];
          const deadLettered: unknown[] = [];
          const client = new FakePutRecordsClient((input) => {
            const bytes = input.Records.reduce(
              (n, r) => n + recordBytes({ partitionKey: r.PartitionKey, data: r.Data }),
              0,
            );
            if (input.Records.length > limits.maxBatchRecords)
              violations.push(`${input.Records.length} records`);
            if (bytes > limits.maxBatchBytes) violations.push(`${bytes} bytes`);
            const mayFail = (id: string) => (failures.get(id) ?? 0) < 3;
            if (
              callFails[callTick++ % callFails.length] &&
              input.Records.every((r) => mayFail(dec.decode(r.Data)))
            ) {
              for (const r of input.Records)
                failures.set(dec.decode(r.Data), (failures.get(dec.decode(r.Data)) ?? 0) + 1);
              throw Object.assign(new Error('simulated'), {
                name: 'InternalFailureException',
                $fault: 'server',
                $metadata: { httpStatusCode: 500 },
              });
            }
            return input.Records.map((r) => {
              const id = dec.decode(r.Data);
              const outcome = entryPattern[entryTick++ % entryPattern.length];
              if (outcome === 'ok' || !mayFail(id)) return 'ok';
              failures.set(id, (failures.get(id) ?? 0) + 1);
              return {
                errorCode:
                  outcome === 'throttle' ? 'ProvisionedThroughputExceededException' : 'InternalFailure',
              };
            });
          });
          const sink = createKinesisSink(
            {
              type: 'kinesis',
              name: `prop-${run % 5}`,
              streamName: 's',
              lingerMs: 0,
              ...limits,
              retry: { maxAttempts: 10, baseDelayMs: 0, maxDelayMs: 1, throttledBaseDelayMs: 0 },
            },
            {
              deadLetters: { put: async (l) => void deadLettered.push(...l) },
              logger: silentLogger,
              client,
              sleep: async () => {},
            },
          );
          // Writers run concurrently (not awaited one by one); ids are writer/index/key, padded to the generated size.
          const batches: OutgoingRecord[][] = writes.map((w, wi) =>
            w.map(({ key, size }, i) => ({
              source: 'p',
              partitionKey: key,
              data: enc.encode(`${wi}/${String(i).padStart(2, '0')}/${key}`.padEnd(size, '.')),
            })),
          );
          const results = await Promise.all(batches.map((b) => sink.write(b)));
          await sink.close();
          expect(violations).toEqual([]);
          expect(deadLettered).toEqual([]);
          const accepted = client.accepted.map((r) => dec.decode(r.Data));
          const written = batches.flat().map((r) => dec.decode(r.data));
          // Exactly once.
          expect([...accepted].sort()).toEqual([...written].sort());
          // Per key, in write order, across concurrent writes in call order.
          for (const key of ['a', 'b', 'c', 'd']) {
            const expected = batches
              .flat()
              .filter((r) => r.partitionKey === key)
              .map((r) => dec.decode(r.data));
            expect(
              client.accepted.filter((r) => r.PartitionKey === key).map((r) => dec.decode(r.Data)),
            ).toEqual(expected);
          }
          // Every delivery names the sequence number its record got.
          const seqById = new Map(client.accepted.map((r) => [dec.decode(r.Data), r.SequenceNumber]));
          for (const [wi, ds] of results.entries()) {
            for (const [i, d] of ds.entries()) {
              expect(d).toMatchObject({
                status: 'delivered',
                sequenceNumber: seqById.get(dec.decode(batches[wi]![i]!.data)),
              });
            }
          }
          expect(sink.stats()).toMatchObject({ bufferedRecords: 0, bufferedBytes: 0, inFlightBatches: 0 });
        },
      ),
      { numRuns: 150 },
    );
  });
});
