/**
 * Whether a sink's downstream is accepting records, shared by every sink.
 *
 * A sink reports each call's outcome: {@link SinkHealth.failed} when a call (or every entry of it)
 * failed, {@link SinkHealth.succeeded} when the service accepted at least one record. While calls fail,
 * the records stay buffered and are retried (the buffer turns that into backpressure on the pollers),
 * `ingest_producer_failing_seconds{sink}` shows for how long, and `/readyz` is not ready with the
 * last error as its reason (`src/telemetry/readiness.ts`). The first success clears both.
 */
import { readiness } from '../telemetry/index.js';
import { producerFailingSeconds } from './telemetry.js';

export { producerFailingSeconds } from './telemetry.js';

const failing = new Map<string, SinkHealth>();

// prom-client calls collect() on each scrape; one hook serves every sink.
(producerFailingSeconds as unknown as { collect?: () => void }).collect = () => {
  for (const [name, h] of failing) producerFailingSeconds.set({ sink: name }, h.failingSeconds());
};

/** Tracks one sink's failing period (see the module comment). */
export class SinkHealth {
  private since: number | undefined;
  private lastError = '';

  /**
   * @param sink - the sink's configured name (metric label, readiness key `sink:<name>`).
   * @param what - the call that fails, for the reason line, e.g. `PutRecords to stream "s"`.
   * @param now - clock in ms. @default Date.now
   */
  constructor(
    private readonly sink: string,
    private readonly what: string,
    private readonly now: () => number = Date.now,
  ) {
    failing.set(sink, this);
    producerFailingSeconds.set({ sink }, 0);
  }

  /** When the current failing period began (ms), or `undefined` while healthy. */
  get failingSinceMs(): number | undefined {
    return this.since;
  }

  /** Seconds failing so far; 0 while healthy. */
  failingSeconds(): number {
    return this.since === undefined ? 0 : Math.max(0, (this.now() - this.since) / 1000);
  }

  /** A call failed with `message`; records stay buffered. */
  failed(message: string): void {
    const now = this.now();
    this.since ??= now;
    this.lastError = message;
    const secs = Math.round((now - this.since) / 1000);
    readiness.set(
      `sink:${this.sink}`,
      `${this.what} failing for ${secs} s; records are held and retried; last error: ${this.lastError}`,
      this.since,
    );
  }

  /** A call was accepted: the failing period (if any) ends. */
  succeeded(): void {
    if (this.since === undefined) return;
    this.since = undefined;
    readiness.clear(`sink:${this.sink}`);
  }

  /** Forgets this sink (on close). */
  dispose(): void {
    this.succeeded();
    if (failing.get(this.sink) === this) failing.delete(this.sink);
  }
}
