import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../log.js';
import type { OutgoingRecord } from '../types.js';
import { recordBytes } from './batcher.js';
import { createKinesisSink } from './index.js';
import { decodeAggregated, isAggregated } from './kpl.js';
import { FakePutRecordsClient } from './testing.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The user records in one Kinesis record: itself, or the records of a KPL aggregate. */
function users(r: { Data: Uint8Array; PartitionKey: string }): { id: string; key: string }[] {
  if (!isAggregated(r.Data)) return [{ id: dec.decode(r.Data), key: r.PartitionKey }];
  return decodeAggregated(r.Data).map((u) => ({ id: dec.decode(u.data), key: u.partitionKey }));
}

/**
 * The sink end to end against a fake client that fails random entries (and sometimes whole calls):
 * every record is accepted exactly once, each key's records are accepted in write order, and no call
 * breaks the batch limits.
 */
describe.each([
  ['without aggregation', false],
  ['with aggregation', true],
])('kinesis sink (property, %s)', (_, aggregated) => {
  it('never loses, duplicates or reorders a key, and keeps every call within the limits', async () => {
    let run = 0;
    let aggregatesSeen = 0;
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
        fc.record({ maxBytes: fc.integer({ min: 64, max: 200 }), hashBuckets: fc.constantFrom(1, 2, 64) }),
        async (writes, entryPattern, callFails, limits, aggregation) => {
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
            for (const r of input.Records) {
              const size = recordBytes({ partitionKey: r.PartitionKey, data: r.Data });
              if (isAggregated(r.Data) && size > Math.min(aggregation.maxBytes, limits.maxBatchBytes))
                violations.push(`aggregate of ${size} bytes`);
              if (aggregated !== isAggregated(r.Data) && users(r).length > 1) violations.push('aggregate');
              // Routing: every Kinesis record of a key carries its bucket's hash key.
              if (aggregated && r.ExplicitHashKey === undefined) violations.push('no ExplicitHashKey');
            }
            const mayFail = (id: string) => (failures.get(id) ?? 0) < 3;
            // A Kinesis record fails as a unit: it may fail while all its user records may.
            const mayFailRecord = (r: { Data: Uint8Array; PartitionKey: string }) =>
              users(r).every((u) => mayFail(u.id));
            const noteFailure = (r: { Data: Uint8Array; PartitionKey: string }) => {
              for (const u of users(r)) failures.set(u.id, (failures.get(u.id) ?? 0) + 1);
            };
            if (callFails[callTick++ % callFails.length] && input.Records.every(mayFailRecord)) {
              for (const r of input.Records) noteFailure(r);
              throw Object.assign(new Error('simulated'), {
                name: 'InternalFailureException',
                $fault: 'server',
                $metadata: { httpStatusCode: 500 },
              });
            }
            return input.Records.map((r) => {
              const outcome = entryPattern[entryTick++ % entryPattern.length];
              if (outcome === 'ok' || !mayFailRecord(r)) return 'ok';
              noteFailure(r);
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
              aggregation: { enabled: aggregated, ...aggregation },
              retry: { baseDelayMs: 0, maxDelayMs: 1, throttledBaseDelayMs: 0 },
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
          const acceptedUsers = client.accepted.flatMap((r) =>
            users(r).map((u) => ({ ...u, seq: r.SequenceNumber, ehk: r.ExplicitHashKey })),
          );
          const accepted = acceptedUsers.map((u) => u.id);
          const written = batches.flat().map((r) => dec.decode(r.data));
          // Exactly once.
          expect([...accepted].sort()).toEqual([...written].sort());
          // Per key, in write order, across concurrent writes in call order.
          for (const key of ['a', 'b', 'c', 'd']) {
            const expected = batches
              .flat()
              .filter((r) => r.partitionKey === key)
              .map((r) => dec.decode(r.data));
            const ofKey = acceptedUsers.filter((u) => u.key === key);
            expect(ofKey.map((u) => u.id)).toEqual(expected);
            // One hash key per key: all its records land on one shard.
            expect(new Set(ofKey.map((u) => u.ehk)).size).toBeLessThanOrEqual(1);
          }
          aggregatesSeen += client.accepted.filter((r) => isAggregated(r.Data)).length;
          // Every delivery names the sequence number its record (or its aggregate) got.
          const seqById = new Map(acceptedUsers.map((u) => [u.id, u.seq]));
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
    if (aggregated) expect(aggregatesSeen).toBeGreaterThan(100);
    else expect(aggregatesSeen).toBe(0);
  });
});
