/** A sink for poller tests: acknowledges every write as delivered, or hangs after some (a killed task). */
import type { Delivery, OutgoingRecord, Sink } from '../../src/producers/types.js';

export class AckSink implements Sink {
  readonly name = 'ack';
  /** Every record acknowledged, in order. */
  readonly records: OutgoingRecord[] = [];
  private writes = 0;
  /** @param hangAfter - writes acknowledged; later ones never answer. @default Infinity */
  constructor(private readonly hangAfter = Number.POSITIVE_INFINITY) {}
  async start(): Promise<void> {}
  write(records: OutgoingRecord[]): Promise<Delivery[]> {
    if (++this.writes > this.hangAfter) return new Promise(() => undefined);
    this.records.push(...records);
    return Promise.resolve(records.map(() => ({ status: 'delivered' as const })));
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
  abandon(): number {
    return 0;
  }
  async ready(): Promise<boolean> {
    return true;
  }
}
