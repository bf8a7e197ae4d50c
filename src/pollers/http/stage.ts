/**
 * One page between the API and the sink: its records wrapped as envelopes, filtered by change
 * detection, handed to the sink ({@link PageStager.stage}), and, once the sink answered, counted and
 * turned into the change-detection entries to store ({@link PageStager.settle}). The poll
 * (`index.ts`) orders pages and stores what `settle` returns.
 *
 * @module
 */
import type { DeadLetter, DeadLetterQueue } from '../../deadletter/index.js';
import { wrap } from '../../envelope.js';
import { describeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Delivery, OutgoingRecord, Sink } from '../../producers/types.js';
import type { SeenEntry } from '../../state/index.js';
import type { PollResult, SourceStats } from '../types.js';
import type { ChangeDetector, PagePlan, TrackedRow } from './changes.js';
import type { HttpSourceConfig } from './config.js';
import type { Cursor } from './cursor.js';
import { PollerError } from './errors.js';
import { sourceDuplicateKeysTotal, sourceMissingKeyFieldsTotal, sourceRecordsTotal } from './telemetry.js';

/** A page handed to the sink, waiting for its acknowledgement. */
export interface StagedPage {
  plan: PagePlan;
  /** Records written to the sink. */
  expected: number;
  /** Records dead-lettered because they could not be wrapped. */
  deadLettered: number;
  deliveries: Promise<Delivery[]>;
  /** The highest cursor among the page's records (incremental sources). */
  cursorMax: number | undefined;
  /** The newest `event_time` among the page's records, epoch ms (freshness). */
  newestEventMs: number | undefined;
}

/** What a {@link PageStager} works with: the source's config, sink, change detector, cursor, totals. */
export interface PageStagerDeps {
  config: HttpSourceConfig;
  sink: Sink;
  deadLetters: DeadLetterQueue;
  changes: ChangeDetector;
  cursor: Cursor | undefined;
  log: Logger;
  /** The source's running totals, updated in place. */
  totals: SourceStats;
}

/** Stages and settles the pages of one source. */
export class PageStager {
  private readonly deps: PageStagerDeps;

  constructor(deps: PageStagerDeps) {
    this.deps = deps;
  }

  /**
   * Wraps and filters (change detection) one page's records and hands them to the sink; resolves
   * once the sink admitted them (its write's promise is in the result, not awaited). Records that
   * cannot be wrapped are dead-lettered first.
   */
  async stage(
    records: unknown[],
    result: PollResult,
    cursor: string | undefined,
    now: Date,
  ): Promise<StagedPage> {
    const source = this.deps.config.name;
    const { emit, idField, versionField, eventTimeField, partitionKeyField, timezone } = this.deps.config;
    const spec = { source, idField, versionField, eventTimeField, partitionKeyField, timezone };
    result.polled += records.length;
    this.deps.totals.polled += records.length;
    sourceRecordsTotal.inc({ source, outcome: 'polled' }, records.length);
    const rows: (TrackedRow & { record: OutgoingRecord })[] = [];
    let newestEventMs: number | undefined;
    const missing = new Map<string, number>();
    const unwrappable: DeadLetter[] = [];
    for (const payload of records) {
      try {
        const wrapped = wrap(spec, payload, now, cursor);
        const eventMs = wrapped.envelope.event_time ? Date.parse(wrapped.envelope.event_time) : Number.NaN;
        if (eventMs > (newestEventMs ?? Number.NEGATIVE_INFINITY)) newestEventMs = eventMs;
        const data = Buffer.from(JSON.stringify(wrapped.envelope), 'utf8');
        for (const field of wrapped.missing) missing.set(field, (missing.get(field) ?? 0) + 1);
        rows.push({
          entity: wrapped.entity,
          id: wrapped.envelope.id,
          record: { source, partitionKey: wrapped.partitionKey, data },
        });
      } catch (err) {
        unwrappable.push({
          component: source,
          source,
          failureClass: 'internal',
          reason: `cannot wrap record: ${describeError(err)}`,
          data: Buffer.from(safeStringify(payload), 'utf8'),
        });
      }
    }
    this.reportKeyProblems(missing, rows.length);
    let plan: PagePlan;
    if (emit === 'changed') {
      plan = await this.deps.changes.plan(rows);
      this.reportDuplicates(plan, rows.length);
    } else {
      plan = {
        emit: rows.map((r, index) => ({ index, entry: { entity: r.entity, id: r.id } })),
        unchanged: 0,
        duplicateKeys: 0,
        duplicateRows: 0,
      };
    }
    const out = plan.emit.map((e) => rows[e.index]!.record);
    if (unwrappable.length > 0) await this.deps.deadLetters.put(unwrappable, now);
    const deliveries: Promise<Delivery[]> = out.length > 0 ? this.deps.sink.write(out) : Promise.resolve([]);
    // Awaited by settle(), in page order; never an unhandled rejection meanwhile.
    deliveries.catch(() => undefined);
    return {
      plan,
      expected: out.length,
      deadLettered: unwrappable.length,
      deliveries,
      cursorMax: this.deps.cursor?.pageMax(records),
      newestEventMs,
    };
  }

  /**
   * Waits for the sink's acknowledgement of a staged page, counts it, and returns the
   * change-detection entries of the records the sink delivered or dead-lettered (to be stored).
   * @throws whatever `sink.write` rejected with; then nothing of the page is stored.
   */
  async settle(staged: StagedPage, result: PollResult): Promise<SeenEntry[]> {
    const source = this.deps.config.name;
    const { plan } = staged;
    const deliveries = await staged.deliveries;
    if (deliveries.length !== staged.expected) {
      throw new PollerError(
        `sink ${this.deps.sink.name} answered ${deliveries.length} deliveries for ${staged.expected} records`,
        'sink',
        { source },
      );
    }
    let emitted = 0;
    let deadLettered = staged.deadLettered;
    const acknowledged: SeenEntry[] = [];
    deliveries.forEach((d, i) => {
      // Only a record the sink delivered or dead-lettered (replayable, ADR 0003) is remembered.
      if (d.status === 'delivered') emitted++;
      else if (d.status === 'dead_lettered') deadLettered++;
      else return;
      acknowledged.push(plan.emit[i]!.entry);
    });
    const { unchanged } = plan;
    result.emitted += emitted;
    result.unchanged += unchanged;
    result.deadLettered += deadLettered;
    this.deps.totals.emitted += emitted;
    this.deps.totals.unchanged += unchanged;
    this.deps.totals.deadLettered += deadLettered;
    sourceRecordsTotal.inc({ source, outcome: 'emitted' }, emitted);
    sourceRecordsTotal.inc({ source, outcome: 'unchanged' }, unchanged);
    sourceRecordsTotal.inc({ source, outcome: 'dead_lettered' }, deadLettered);
    return acknowledged;
  }

  /** One warning per page, and a count per field, for configured key fields that resolved to nothing. */
  private reportKeyProblems(missing: Map<string, number>, rows: number): void {
    if (missing.size === 0) return;
    for (const [field, n] of missing)
      sourceMissingKeyFieldsTotal.inc({ source: this.deps.config.name, field }, n);
    this.deps.log.warn(
      { event: 'key_fields_missing', rows, missing: Object.fromEntries(missing) },
      'Configured idField/versionField resolved to nothing in some rows: their ids fall back to a content hash (ADR 0003). Check the field paths.',
    );
  }

  /** One warning per page, and a count, when rows of the page share a key but are different records. */
  private reportDuplicates(plan: PagePlan, rows: number): void {
    if (plan.duplicateRows === 0) return;
    sourceDuplicateKeysTotal.inc({ source: this.deps.config.name }, plan.duplicateRows);
    this.deps.log.warn(
      {
        event: 'duplicate_keys',
        rows,
        duplicateKeys: plan.duplicateKeys,
        duplicateRows: plan.duplicateRows,
        exampleKey: plan.exampleKey,
      },
      'Rows of one page share an idField value but differ: each is tracked by its record id (ADR 0003). If they are distinct entities, configure a composite idField.',
    );
  }
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
