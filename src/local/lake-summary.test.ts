import { describe, expect, it } from 'vitest';
import { emptyCycleResult } from '../consumers/hourly/records.js';
import { formatSummary, type LocalSummary } from './index.js';

const base: LocalSummary = {
  sources: [],
  landedThisRun: 0,
  consumerDeadLettered: 0,
  landedAll: true,
  complete: false,
  elapsedSecs: 1,
  lakeUri: 'file:///tmp/lake',
};

describe('ingest local summary: the lake', () => {
  it('names every hour not done with its reason, and says the run is incomplete', () => {
    const cycle = {
      ...emptyCycleResult(),
      done: ['2026-12-04T09'],
      takenOver: ['2026-12-04T09'],
      failed: ['2026-12-04T10'],
      errors: { '2026-12-04T10': 'JobRunFailedError: bronze_to_silver run jr_1 ended FAILED' },
    };
    const text = formatSummary({
      ...base,
      lake: {
        cycle,
        lakeSecs: 2,
        silverRows: {},
        analytics: [],
        quality: [],
        notDone: [
          {
            hour: '2026-12-04T10',
            reason: 'failed: JobRunFailedError: bronze_to_silver run jr_1 ended FAILED',
          },
          {
            hour: '2026-12-04T11',
            reason: 'leased: leased by h:1:x (pid 1 on h, alive) until 2026-12-04T12:00:00Z',
          },
        ],
      },
    });
    expect(text).toContain(
      'hourly lake: 1 hour(s) done (2026-12-04T09), 1 failed, 0 retrying, 0 deferred, 0 skipped',
    );
    expect(text).toContain('took over 1 hour(s) from a dead or expired owner: 2026-12-04T09');
    expect(text).toContain('hour 2026-12-04T10 NOT DONE: failed: JobRunFailedError');
    expect(text).toContain('hour 2026-12-04T11 NOT DONE: leased: leased by h:1:x');
    expect(text).toContain('INCOMPLETE: 2 hour(s) of the lake not done');
  });

  it('is complete only when everything landed and every hour is done', () => {
    expect(formatSummary({ ...base, complete: true })).toContain('complete: every accepted record landed');
    expect(formatSummary({ ...base, landedAll: false })).toContain(
      'INCOMPLETE: stopped before everything landed',
    );
  });
});
