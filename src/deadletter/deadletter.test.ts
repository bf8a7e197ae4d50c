import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLake } from '../lake/index.js';
import { silentLogger } from '../log.js';
import type { Delivery, OutgoingRecord, Sink } from '../producers/types.js';
import { parseInstant } from './command.js';
import { type DeadLetter, DeadLetterQueue } from './index.js';
import { readDeadLetters } from './read.js';
import { replayDeadLetters } from './replay.js';
import { deadLetterReplayedRecordsTotal } from './telemetry.js';

const envelope = (source: string, id: string) =>
  Buffer.from(JSON.stringify({ source, id, ingested_at: '2026-12-04T10:00:00.000Z', payload: { id } }));

function letter(source: string, id: string, reason: string, component = 'kinesis'): DeadLetter {
  return {
    component,
    source,
    failureClass: 'http_4xx',
    reason,
    data: envelope(source, id),
    partitionKey: `${source}:${id}`,
  };
}

/** A sink that records writes and rejects partition keys listed in `reject`. */
class RecordingSink implements Sink {
  readonly name = 'recording';
  readonly written: OutgoingRecord[] = [];
  constructor(private readonly reject = new Set<string>()) {}
  async start(): Promise<void> {}
  async write(records: OutgoingRecord[]): Promise<Delivery[]> {
    this.written.push(...records);
    return records.map((r) =>
      this.reject.has(r.partitionKey)
        ? { status: 'dead_lettered', reason: 'still invalid' }
        : { status: 'delivered' },
    );
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
  async ready(): Promise<boolean> {
    return true;
  }
  abandon(): number {
    return 0;
  }
}

async function metric(labels: Record<string, string>): Promise<number> {
  const { values } = await deadLetterReplayedRecordsTotal.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((n, v) => n + v.value, 0);
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dead-letters-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dead letters: list', () => {
  it('reads back what the queue wrote, filtered by source, component, time range and reason', async () => {
    const lake = openLake(`file://${dir}`);
    const q = new DeadLetterQueue(lake);
    await q.put(
      [letter('a', '1', 'ValidationException: bad'), letter('b', '2', 'record too large')],
      new Date('2026-12-04T09:15:00Z'),
    );
    await q.put([letter('a', '3', 'ValidationException: worse')], new Date('2026-12-04T11:30:00Z'));
    await q.put(
      [
        {
          component: 'a',
          source: 'a',
          failureClass: 'internal',
          reason: 'cannot wrap record',
          data: Buffer.from('{"x":'),
        },
      ],
      new Date('2026-12-04T11:31:00Z'),
    );
    const ids = async (filter: Parameters<typeof readDeadLetters>[1]) => {
      const out: string[] = [];
      for await (const o of readDeadLetters(lake, filter))
        for (const l of o.letters) out.push(`${l.component}/${l.source}@${l.deadLetteredAt.slice(11, 16)}`);
      return out;
    };
    expect(await ids({})).toEqual(['a/a@11:31', 'kinesis/a@09:15', 'kinesis/b@09:15', 'kinesis/a@11:30']);
    expect(await ids({ source: 'a', component: 'kinesis' })).toEqual(['kinesis/a@09:15', 'kinesis/a@11:30']);
    expect(await ids({ since: new Date('2026-12-04T10:00:00Z') })).toEqual(['a/a@11:31', 'kinesis/a@11:30']);
    expect(await ids({ until: new Date('2026-12-04T11:30:00Z') })).toEqual([
      'kinesis/a@09:15',
      'kinesis/b@09:15',
    ]);
    expect(await ids({ reason: 'validationexception' })).toEqual(['kinesis/a@09:15', 'kinesis/a@11:30']);
  });

  it('parses --since/--until as ISO-8601 or an age, and rejects anything else', () => {
    const now = Date.parse('2026-12-04T12:00:00Z');
    expect(parseInstant('6h', now).toISOString()).toBe('2026-12-04T06:00:00.000Z');
    expect(parseInstant('2d', now).toISOString()).toBe('2026-12-02T12:00:00.000Z');
    expect(parseInstant('2026-12-01T00:00:00Z').toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(() => parseInstant('yesterday')).toThrow(/ISO-8601/);
  });
});

describe('dead letters: replay', () => {
  it('sends envelopes through the sink, skips raw payloads, counts each outcome, and marks replayed objects', async () => {
    const lake = openLake(`file://${dir}`);
    const q = new DeadLetterQueue(lake);
    await q.put([letter('r.src', '1', 'x'), letter('r.src', '2', 'x'), letter('r.src', '3', 'x')]);
    await q.put([
      {
        component: 'r.src',
        source: 'r.src',
        failureClass: 'internal',
        reason: 'cannot wrap',
        data: Buffer.from('nope'),
      },
    ]);
    const sink = new RecordingSink(new Set(['r.src:3']));
    const before = {
      delivered: await metric({ source: 'r.src', outcome: 'delivered' }),
      dead: await metric({ source: 'r.src', outcome: 'dead_lettered' }),
      skipped: await metric({ source: 'r.src', outcome: 'skipped' }),
    };
    const first = await replayDeadLetters(lake, async () => sink, silentLogger);
    expect(first).toMatchObject({
      objects: 2,
      delivered: 2,
      deadLettered: 1,
      skipped: 1,
      alreadyReplayedObjects: 0,
    });
    expect(
      sink.written.map((r) => [r.source, r.partitionKey, JSON.parse(Buffer.from(r.data).toString()).id]),
    ).toEqual([
      ['r.src', 'r.src:1', '1'],
      ['r.src', 'r.src:2', '2'],
      ['r.src', 'r.src:3', '3'],
    ]);
    expect(await metric({ source: 'r.src', outcome: 'delivered' })).toBe(before.delivered + 2);
    expect(await metric({ source: 'r.src', outcome: 'dead_lettered' })).toBe(before.dead + 1);
    expect(await metric({ source: 'r.src', outcome: 'skipped' })).toBe(before.skipped + 1);

    // A second replay skips both objects; --again sends the envelopes once more.
    const second = await replayDeadLetters(lake, async () => sink, silentLogger);
    expect(second).toMatchObject({ objects: 2, alreadyReplayedObjects: 2, delivered: 0 });
    const again = await replayDeadLetters(lake, async () => sink, silentLogger, { again: true });
    expect(again).toMatchObject({ delivered: 2, deadLettered: 1 });
    expect(sink.written).toHaveLength(6);
  });

  it('a dry run sends nothing and marks nothing; a partly selected object is not marked', async () => {
    const lake = openLake(`file://${dir}`);
    await new DeadLetterQueue(lake).put([
      letter('p', '1', 'first reason'),
      letter('p', '2', 'second reason'),
    ]);
    const sink = new RecordingSink();
    expect(await replayDeadLetters(lake, async () => sink, silentLogger, { dryRun: true })).toMatchObject({
      wouldSend: 2,
      delivered: 0,
    });
    expect(sink.written).toHaveLength(0);
    await replayDeadLetters(lake, async () => sink, silentLogger, { filter: { reason: 'first' } });
    expect(sink.written).toHaveLength(1);
    // Not marked: the other letter of the object is still replayable.
    await replayDeadLetters(lake, async () => sink, silentLogger, { filter: { reason: 'second' } });
    expect(sink.written.map((r) => r.partitionKey)).toEqual(['p:1', 'p:2']);
  });
});
