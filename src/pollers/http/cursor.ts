/**
 * Incremental sync (issue 10, item 4; ADR 0012): a cursor field read from the records (a timestamp or
 * an increasing number) is sent on the next poll through query parameters templated with
 * `{{cursor}}` (`since={{cursor}}`), minus a lookback window that catches late updates (change
 * detection drops what was already emitted).
 *
 * The cursor is checkpointed in the state store (`source/<name>/cursor`) only once every record up
 * to it was acknowledged by the sink: after the whole poll (`checkpoint: poll`, any record order), or
 * after each page in page order (`checkpoint: page`, for APIs that return records in ascending cursor
 * order). A poll that fails stores nothing past its last acknowledged checkpoint, so a task killed
 * mid-poll resumes from there, with no gap.
 *
 * @module
 */
import { z } from 'zod';
import { getPath } from '../../envelope.js';
import type { Logger } from '../../log.js';
import type { StateStore } from '../../state/index.js';
import { sourceCursorUnreadableTotal, sourceNewestRecordTimestampSeconds } from '../../telemetry/sources.js';

export const CursorSchema = z
  .strictObject({
    field: z.string().min(1).describe('Dot path of the cursor in each record, e.g. `updated_at` or `id`.'),
    type: z
      .enum(['timestamp', 'number'])
      .default('timestamp')
      .describe(
        '`timestamp`: an ISO-8601 string or epoch number (above 10^11 milliseconds, else seconds); `number`: an increasing id.',
      ),
    query: z
      .record(z.string(), z.string())
      .describe(
        'Query parameters added to the first page when a cursor is known; `{{cursor}}` in a value is replaced by the cursor (minus the lookback) in `format`, e.g. `{ since: "{{cursor}}" }` or `{ q: "updated>{{cursor}}" }`.',
      ),
    format: z
      .enum(['iso', 'isoSeconds', 'date', 'epochSeconds', 'epochMillis'])
      .default('iso')
      .describe(
        'How a timestamp cursor is written: `iso` (`2026-12-05T06:00:00.000Z`), `isoSeconds` (`2026-12-05T06:00:00Z`), `date` (`2026-12-05`), `epochSeconds`, `epochMillis`. A number cursor is written as is.',
      ),
    lookbackSecs: z
      .number()
      .nonnegative()
      .default(0)
      .describe('Timestamp cursors: seconds subtracted from the cursor sent, to catch records updated late.'),
    lookbackValues: z
      .number()
      .nonnegative()
      .default(0)
      .describe('Number cursors: amount subtracted from the cursor sent.'),
    initial: z
      .string()
      .optional()
      .describe(
        'Cursor of the very first poll (ISO-8601 or a number); without it the first poll sends no cursor.',
      ),
    checkpoint: z
      .enum(['poll', 'page'])
      .default('poll')
      .describe(
        '`poll`: the cursor is stored once every page of the poll was acknowledged (any record order); `page`: after each acknowledged page, in page order, which needs records in ascending cursor order.',
      ),
  })
  .describe('Incremental sync: a cursor read from the records and sent on the next poll.');

export type CursorConfig = z.infer<typeof CursorSchema>;

/** State-store key of a source's cursor. */
export const cursorKey = (source: string): string => `source/${source}/cursor`;

/** Persisted shape of `source/<name>/cursor`: epoch ms for timestamps, the number for numbers. */
export interface CursorState {
  value: number;
  type: CursorConfig['type'];
}

/**
 * A cursor value read from a record: epoch ms for `timestamp`, the number for `number`; `undefined`
 * when absent or unreadable.
 */
export function readCursor(value: unknown, type: CursorConfig['type']): number | undefined {
  if (type === 'number') {
    const n =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && value.trim() !== ''
          ? Number(value)
          : Number.NaN;
    return Number.isFinite(n) ? n : undefined;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return value > 1e11 ? value : value * 1000;
  if (typeof value === 'string' && value !== '') {
    if (/^\d+(\.\d+)?$/.test(value)) return readCursor(Number(value), type);
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** Writes a cursor value in the configured format. */
export function formatCursor(value: number, config: Pick<CursorConfig, 'type' | 'format'>): string {
  if (config.type === 'number') return String(value);
  const iso = new Date(value).toISOString();
  switch (config.format) {
    case 'iso':
      return iso;
    case 'isoSeconds':
      return `${iso.slice(0, 19)}Z`;
    case 'date':
      return iso.slice(0, 10);
    case 'epochSeconds':
      return String(Math.floor(value / 1000));
    case 'epochMillis':
      return String(value);
  }
}

const newest = new Map<string, number>();

/**
 * Moves `ingest_source_newest_record_timestamp_seconds` of a source forward (never back) to `ms`:
 * an acknowledged record's event time or a time cursor. Freshness is now minus this.
 */
export function noteNewestRecord(source: string, ms: number): void {
  if (ms <= (newest.get(source) ?? Number.NEGATIVE_INFINITY)) return;
  newest.set(source, ms);
  sourceNewestRecordTimestampSeconds.set({ source }, ms / 1000);
}

/** The cursor of one source: what to send, what the records say, and when to store it. */
export class Cursor {
  private stored: number | undefined;
  private loaded = false;
  private readonly source: string;
  readonly config: CursorConfig;
  private readonly state: StateStore;
  private readonly log: Logger;

  constructor(source: string, config: CursorConfig, state: StateStore, log: Logger) {
    this.source = source;
    this.config = config;
    this.state = state;
    this.log = log;
  }

  /** Loads the stored cursor (once), else `initial`. */
  async load(): Promise<void> {
    if (this.loaded) return;
    const got = await this.state.get<CursorState>(cursorKey(this.source));
    if (got?.value !== undefined && got.value.type !== this.config.type) {
      this.log.warn(
        { stored: got.value.type, configured: this.config.type },
        'Stored cursor has another type than the config: it is ignored and the poll starts from `initial`.',
      );
    }
    const initial =
      this.config.initial === undefined ? undefined : readCursor(this.config.initial, this.config.type);
    this.stored = got?.value?.type === this.config.type ? got.value.value : initial;
    this.loaded = true;
  }

  /** The stored cursor (epoch ms or number), `undefined` before the first checkpoint. */
  value(): number | undefined {
    return this.stored;
  }

  /** The cursor this poll sends (the stored one minus the lookback), formatted; `undefined` when none. */
  sent(): string | undefined {
    if (this.stored === undefined) return undefined;
    const lookback =
      this.config.type === 'timestamp' ? this.config.lookbackSecs * 1000 : this.config.lookbackValues;
    return formatCursor(this.stored - lookback, this.config);
  }

  /** The first page URL with the cursor's query parameters (unchanged when there is no cursor yet). */
  firstPage(url: string): string {
    const sent = this.sent();
    if (sent === undefined) return url;
    const u = new URL(url);
    for (const [k, v] of Object.entries(this.config.query))
      u.searchParams.set(k, v.replaceAll('{{cursor}}', sent));
    return u.href;
  }

  /**
   * The highest cursor among a page's records; records without a readable one are counted in
   * `ingest_source_cursor_unreadable_total` and logged once per page.
   */
  pageMax(records: readonly unknown[]): number | undefined {
    let max: number | undefined;
    let unreadable = 0;
    for (const r of records) {
      const v = readCursor(getPath(r, this.config.field), this.config.type);
      if (v === undefined) unreadable++;
      else if (max === undefined || v > max) max = v;
    }
    if (unreadable > 0) {
      sourceCursorUnreadableTotal.inc({ source: this.source }, unreadable);
      this.log.warn(
        { event: 'cursor_unreadable', field: this.config.field, rows: records.length, unreadable },
        'Records without a readable cursor field: they are delivered, but do not move the cursor. Check cursor.field and cursor.type.',
      );
    }
    return max;
  }

  /** Stores `max` as the cursor when it is past the stored one. Call only once its records were acknowledged. */
  async advance(max: number | undefined): Promise<void> {
    if (max === undefined || (this.stored !== undefined && max <= this.stored)) return;
    await this.state.put<CursorState>(cursorKey(this.source), { value: max, type: this.config.type });
    this.stored = max;
    if (this.config.type === 'timestamp')
      sourceNewestRecordTimestampSeconds.set({ source: this.source }, max / 1000);
  }
}
