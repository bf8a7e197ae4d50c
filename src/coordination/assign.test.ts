import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignResources } from './assign.js';

describe('assignResources', () => {
  it('gives every resource one member, at most ceil(R/M) each, the same whatever the input order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 40 }),
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 8 }),
        (resources, members) => {
          const plan = assignResources(resources, members);
          expect([...plan.keys()].sort()).toEqual([...resources].sort());
          const cap = Math.ceil(resources.length / members.length);
          const load = new Map<string, number>();
          for (const m of plan.values()) load.set(m, (load.get(m) ?? 0) + 1);
          for (const n of load.values()) expect(n).toBeLessThanOrEqual(cap);
          expect(assignResources([...resources].reverse(), [...members].reverse())).toEqual(plan);
        },
      ),
    );
  });

  it('moves few resources when a member joins', () => {
    const resources = Array.from({ length: 100 }, (_, i) => `source-${i}`);
    const before = assignResources(resources, ['a', 'b', 'c']);
    const after = assignResources(resources, ['a', 'b', 'c', 'd']);
    const moved = resources.filter((r) => before.get(r) !== after.get(r)).length;
    expect(after.size).toBe(100);
    expect(moved).toBeLessThan(50);
  });
});
