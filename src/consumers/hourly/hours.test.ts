import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { LakeSchema } from '../../glue/config.js';
import { silentLogger } from '../../log.js';
import { FileStateStore } from '../../state/index.js';
import { HourlySchedulerSchema } from './config.js';
import {
  fingerprintKeys,
  groupBronze,
  hourEndMs,
  hourOf,
  isClosed,
  isValidHour,
  parseBronzeKey,
  sqlHourList,
} from './hours.js';
import { createHourlyScheduler } from './index.js';

describe('bronze keys', () => {
  it('parses the Hive-style layout and rejects everything else', () => {
    expect(parseBronzeKey('bronze/source=shop.carts/dt=2024-03-10/hour=07/s-1-00.json.gz')).toEqual({
      key: 'bronze/source=shop.carts/dt=2024-03-10/hour=07/s-1-00.json.gz',
      source: 'shop.carts',
      hour: '2024-03-10T07',
    });
    for (const bad of [
      'bronze/source=a/dt=2024-03-10/hour=24/x.gz', // no hour 24
      'bronze/source=a/dt=2024-02-30/hour=01/x.gz', // no 30 February
      'bronze/source=a/dt=2024-03-10/hour=1/x.gz',
      'bronze/source=a/dt=2024-03-10/x.gz',
      'silver/source=a/dt=2024-03-10/hour=01/x.gz',
      'bronze/source=a/dt=2024-03-10/hour=01/_SUCCESS',
      'bronze/source=a/dt=2024-03-10/hour=01/.x.gz.crc',
      'bronze/source=a/dt=2024-03-10/hour=01/x.gz.123.tmp',
      'bronze/source=a/dt=2024-03-10/hour=01/sub/',
    ]) {
      expect(parseBronzeKey(bad), bad).toBeUndefined();
    }
  });

  it('groups keys by hour (chronological) and source (sorted), ignoring foreign keys', () => {
    const grouped = groupBronze([
      'bronze/source=b/dt=2024-03-10/hour=08/2.gz',
      'bronze/source=a/dt=2024-03-10/hour=08/1.gz',
      'bronze/source=a/dt=2024-03-09/hour=23/9.gz',
      'bronze/source=a/dt=2024-03-10/hour=08/0.gz',
      'dead-letter/x.json',
    ]);
    expect(grouped.map((g) => [g.hour, [...g.sources.entries()]])).toEqual([
      ['2024-03-09T23', [['a', ['bronze/source=a/dt=2024-03-09/hour=23/9.gz']]]],
      [
        '2024-03-10T08',
        [
          ['a', ['bronze/source=a/dt=2024-03-10/hour=08/0.gz', 'bronze/source=a/dt=2024-03-10/hour=08/1.gz']],
          ['b', ['bronze/source=b/dt=2024-03-10/hour=08/2.gz']],
        ],
      ],
    ]);
  });
});

describe('hours', () => {
  it('an hour closes graceSecs after its end', () => {
    expect(hourEndMs('2024-03-10T23')).toBe(Date.parse('2024-03-11T00:00:00Z'));
    expect(isClosed('2024-03-10T23', new Date('2024-03-11T00:04:59.999Z'), 300)).toBe(false);
    expect(isClosed('2024-03-10T23', new Date('2024-03-11T00:05:00Z'), 300)).toBe(true);
    expect(isClosed('2024-03-10T23', new Date('2024-03-11T00:00:00Z'), 0)).toBe(true);
  });

  it('hourOf and isValidHour agree on every instant', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('1971-01-01'), max: new Date('2999-12-31'), noInvalidDate: true }),
        (d) => {
          const h = hourOf(d);
          expect(isValidHour(h)).toBe(true);
          expect(hourEndMs(h) > d.getTime()).toBe(true);
          expect(hourEndMs(h) - 3_600_000 <= d.getTime()).toBe(true);
        },
      ),
    );
  });

  it('the fingerprint ignores order and duplicates, and changes with any new key', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 20 }),
        fc.string(),
        (keys, extra) => {
          const shuffled = [...keys].reverse();
          expect(fingerprintKeys(shuffled)).toBe(fingerprintKeys([...keys, keys[0]!]));
          if (!keys.includes(extra))
            expect(fingerprintKeys([...keys, extra])).not.toBe(fingerprintKeys(keys));
        },
      ),
    );
  });

  it('sqlHourList quotes hours and refuses anything else', () => {
    expect(sqlHourList(['2024-03-10T07', '2024-03-10T08'])).toBe("'2024-03-10T07','2024-03-10T08'");
    expect(() => sqlHourList(["2024-03-10T07' OR 1=1 --"])).toThrow(RangeError);
  });
});

describe('config', () => {
  it('has the documented defaults, and every field is described', () => {
    const cfg = HourlySchedulerSchema.parse({ type: 'hourly' });
    expect(cfg).toMatchObject({
      name: 'hourly',
      graceSecs: 300,
      checkIntervalSecs: 60,
      maxHoursPerCycle: 24,
      maxAttempts: 3,
      jobs: { bronzeToSilver: 'bronze_to_silver', silverToGold: 'silver_to_gold' },
      maxConcurrentRuns: 1,
    });
    expect(cfg.crawlerName).toBeUndefined();
    expect(cfg.qualityQuery).toBeUndefined();
    const json = z.toJSONSchema(HourlySchedulerSchema, { io: 'input' });
    const props = (json as { properties?: Record<string, { description?: string }> }).properties ?? {};
    expect(Object.keys(props).length).toBeGreaterThan(15);
    for (const [name, prop] of Object.entries(props)) expect(prop.description, name).toBeTruthy();
  });

  it('rejects a lease shorter than three heartbeats, and a quality query without a query engine', () => {
    expect(HourlySchedulerSchema.safeParse({ type: 'hourly', leaseSecs: 20 }).success).toBe(false);
    const deps = {
      state: new FileStateStore('/nonexistent-unused'),
      logger: silentLogger,
      executor: {} as never,
      lakeConfig: LakeSchema.parse({}),
    };
    expect(() => createHourlyScheduler({ type: 'hourly', leaseSecs: 20 }, deps)).toThrow(ConfigError);
    expect(() => createHourlyScheduler({ type: 'hourly', qualityQuery: 'SELECT 1' }, deps)).toThrow(
      /no query engine/,
    );
  });
});
