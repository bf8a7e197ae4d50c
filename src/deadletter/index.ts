import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { FailureClass } from '../errors.js';
import type { Lake } from '../lake/index.js';
import { mask } from '../secrets/index.js';
import { deadLetterRecordsTotal } from '../telemetry/index.js';

/** One record that could not be delivered, with why. */
export interface DeadLetter {
  /** The component that gave up (e.g. `kinesis`, `bronze`, or a source name). */
  component: string;
  source: string;
  failureClass: FailureClass;
  reason: string;
  /** The record as it was accepted: UTF-8 text when it decodes, else base64 in `data_base64`. */
  data: Uint8Array;
  partitionKey?: string;
}

/**
 * The dead-letter location: gzip NDJSON objects under
 * `dead-letter/component=<c>/dt=YYYY-MM-DD/hour=HH/<time>-<seq>.json.gz` in a lake URI, one line per
 * record with `reason` (registered secrets masked, see `src/secrets`), `failure_class`, `source`, `dead_lettered_at` and the record itself.
 * Every dead letter is counted in `ingest_dead_letter_records_total{component,source,class}`.
 */
export class DeadLetterQueue {
  private seq = 0;

  constructor(private readonly lake: Lake) {}

  /** Writes dead letters durably. @throws StorageError (retriable) when the lake write fails. */
  async put(letters: DeadLetter[], now = new Date()): Promise<void> {
    if (letters.length === 0) return;
    const byComponent = new Map<string, DeadLetter[]>();
    for (const l of letters) byComponent.set(l.component, [...(byComponent.get(l.component) ?? []), l]);
    const iso = now.toISOString();
    for (const [component, group] of byComponent) {
      const lines = group.map((l) => {
        const text = Buffer.from(l.data).toString('utf8');
        const roundTrips = Buffer.from(text, 'utf8').equals(Buffer.from(l.data));
        return JSON.stringify({
          dead_lettered_at: iso,
          component: l.component,
          source: l.source,
          failure_class: l.failureClass,
          reason: mask(l.reason), // a reason may quote an upstream body or URL: no secret leaves with it
          partition_key: l.partitionKey,
          ...(roundTrips ? { data: text } : { data_base64: Buffer.from(l.data).toString('base64') }),
        });
      });
      const key = `dead-letter/component=${component}/dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/${iso.replace(/[:.]/g, '')}-${randomUUID()}-${this.seq++}.json.gz`;
      await this.lake.put(key, gzipSync(`${lines.join('\n')}\n`), 'application/gzip');
      for (const l of group)
        deadLetterRecordsTotal.inc({ component, source: l.source, class: l.failureClass });
    }
  }
}
