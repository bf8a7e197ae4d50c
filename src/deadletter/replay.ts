/**
 * `ingest dead-letters replay`: sends dead letters through the normal sink again.
 *
 * A dead letter is replayable when it is a record envelope (a JSON object with `source` and `id`)
 * with its partition key, i.e. what a sink dead-lettered. Anything else (a raw upstream payload that
 * could not be wrapped, a stream record the bronze writer could not read) is skipped and counted:
 * there is nothing a sink could do with it. Envelope ids are deterministic (ADR 0003), so replaying
 * a letter twice lands the same id twice in bronze, which silver deduplicates: harmless.
 *
 * After an object's letters were all sent, a marker `dead-letter-replayed/<object>.json` records it,
 * so a second replay skips it unless `again` is set. Objects only partly selected by the filter get
 * no marker.
 */
import type { Lake } from '../lake/index.js';
import type { Logger } from '../log.js';
import type { OutgoingRecord, Sink } from '../producers/types.js';
import { type DeadLetterFilter, readDeadLetters, replayMarkerKey, type StoredDeadLetter } from './read.js';
import { deadLetterReplayedRecordsTotal } from './telemetry.js';

/** Options of {@link replayDeadLetters}. */
export interface ReplayOptions {
  filter?: DeadLetterFilter;
  /** Replay objects already replayed too. @default false */
  again?: boolean;
  /** Select and count only; send nothing and write no marker. @default false */
  dryRun?: boolean;
  /** Records per `sink.write` call. @default 500 */
  chunkRecords?: number;
}

/** What a replay did, per outcome. */
export interface ReplaySummary {
  /** Objects read that held selected letters (replayed ones included). */
  objects: number;
  /** Objects skipped because an earlier replay marked them (without `again`). */
  alreadyReplayedObjects: number;
  /** Letters sent and accepted by the sink. */
  delivered: number;
  /** Letters sent and rejected again (now in a new dead-letter object). */
  deadLettered: number;
  /** Letters that are not record envelopes, with the first reason seen. */
  skipped: number;
  /** Letters that would be sent (dry run). */
  wouldSend: number;
}

/** Why a letter cannot be replayed, or `undefined` when it can. */
export function notReplayable(letter: StoredDeadLetter): string | undefined {
  if (letter.partitionKey === undefined) return 'no partition key: not a record a sink dead-lettered';
  try {
    const o = JSON.parse(Buffer.from(letter.data).toString('utf8')) as unknown;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return 'data is not a record envelope';
    const e = o as Record<string, unknown>;
    if (typeof e.source !== 'string' || typeof e.id !== 'string')
      return 'data is not a record envelope (no source or id)';
  } catch {
    return 'data is not JSON: a raw record, not an envelope';
  }
  return undefined;
}

/**
 * Replays the selected dead letters through `sinkFor(source)` (see the module comment).
 * @throws StorageError when the lake cannot be read or a marker cannot be written; the sink's own
 *   errors (a write rejected while closing) propagate.
 */
export async function replayDeadLetters(
  lake: Lake,
  sinkFor: (source: string) => Promise<Sink>,
  logger: Logger,
  options: ReplayOptions = {},
): Promise<ReplaySummary> {
  const summary: ReplaySummary = {
    objects: 0,
    alreadyReplayedObjects: 0,
    delivered: 0,
    deadLettered: 0,
    skipped: 0,
    wouldSend: 0,
  };
  const chunk = options.chunkRecords ?? 500;
  for await (const object of readDeadLetters(lake, options.filter)) {
    summary.objects++;
    if (object.replayed && !options.again) {
      summary.alreadyReplayedObjects++;
      continue;
    }
    const sendable: StoredDeadLetter[] = [];
    for (const letter of object.letters) {
      const why = notReplayable(letter);
      if (why === undefined) {
        sendable.push(letter);
        continue;
      }
      summary.skipped++;
      deadLetterReplayedRecordsTotal.inc({ source: letter.source, outcome: 'skipped' });
      logger.warn(
        {
          event: 'dead_letter_not_replayable',
          key: letter.key,
          line: letter.line,
          source: letter.source,
          why,
        },
        `dead letter ${letter.key}:${letter.line} skipped: ${why}`,
      );
    }
    if (options.dryRun) {
      summary.wouldSend += sendable.length;
      continue;
    }
    const counts = { delivered: 0, deadLettered: 0 };
    const bySource = new Map<string, StoredDeadLetter[]>();
    for (const l of sendable) bySource.set(l.source, [...(bySource.get(l.source) ?? []), l]);
    for (const [source, letters] of bySource) {
      const sink = await sinkFor(source);
      for (let i = 0; i < letters.length; i += chunk) {
        const records: OutgoingRecord[] = letters
          .slice(i, i + chunk)
          .map((l) => ({ source, partitionKey: l.partitionKey!, data: l.data }));
        const deliveries = await sink.write(records);
        const ok = deliveries.filter((d) => d.status === 'delivered').length;
        counts.delivered += ok;
        counts.deadLettered += deliveries.length - ok;
        deadLetterReplayedRecordsTotal.inc({ source, outcome: 'delivered' }, ok);
        deadLetterReplayedRecordsTotal.inc({ source, outcome: 'dead_lettered' }, deliveries.length - ok);
      }
    }
    summary.delivered += counts.delivered;
    summary.deadLettered += counts.deadLettered;
    if (object.letters.length === object.total) {
      await lake.put(
        replayMarkerKey(object.key),
        Buffer.from(
          JSON.stringify({
            replayed_at: new Date().toISOString(),
            delivered: counts.delivered,
            dead_lettered: counts.deadLettered,
            skipped: object.letters.length - sendable.length,
          }),
        ),
        'application/json',
      );
    }
    logger.info(
      {
        event: 'dead_letters_replayed',
        key: object.key,
        ...counts,
        skipped: object.letters.length - sendable.length,
      },
      `replayed ${object.key}`,
    );
  }
  return summary;
}
