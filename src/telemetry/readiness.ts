/**
 * Conditions that make a role not ready, pushed by the component that sees them (a sink that has been
 * failing, a bronze shard marked failed), and served by `/readyz` with their reasons. A condition is
 * keyed by `component/id` so each component sets and clears its own; `/readyz` answers 503 while any
 * condition is set, or while the role's own `ready()` probe answers false.
 *
 * @example
 * ```ts
 * readiness.set('sink:kinesis', 'PutRecords failing for 12 s: ECONNREFUSED');
 * readiness.clear('sink:kinesis');
 * ```
 */

/** One reason a role is not ready. */
export interface NotReadyCondition {
  /** Who set it, e.g. `sink:kinesis` or `bronze:shardId-000000000001`. */
  key: string;
  /** One line for an operator: what is wrong and since when. */
  reason: string;
  /** When it was first set, ms since the epoch. */
  sinceMs: number;
}

class Readiness {
  private readonly conditions = new Map<string, NotReadyCondition>();

  /** Sets (or updates the reason of) a not-ready condition; keeps the original `sinceMs`. */
  set(key: string, reason: string, nowMs = Date.now()): void {
    const prev = this.conditions.get(key);
    this.conditions.set(key, { key, reason, sinceMs: prev?.sinceMs ?? nowMs });
  }

  /** Clears a condition (no-op when absent). */
  clear(key: string): void {
    this.conditions.delete(key);
  }

  /** The current conditions, oldest first. */
  list(): NotReadyCondition[] {
    return [...this.conditions.values()].sort((a, b) => a.sinceMs - b.sinceMs);
  }

  /** Removes every condition (tests). */
  reset(): void {
    this.conditions.clear();
  }
}

/** The process-wide readiness conditions. */
export const readiness = new Readiness();
