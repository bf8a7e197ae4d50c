/** Summarises bursts (throttling, call failures) into at most one log line per window. */
export class BurstLog {
  private counts = new Map<string, number>();
  private lastAt = Number.NEGATIVE_INFINITY;
  private since = 0;

  /**
   * @param log - writes one line (fields, message).
   * @param message - the line's message.
   * @param now - clock in ms.
   * @param windowMs - at most one line per window. @default 10000
   */
  constructor(
    private readonly log: (fields: object, msg: string) => void,
    private readonly message: string,
    private readonly now: () => number,
    private readonly windowMs = 10_000,
  ) {}

  /** Counts `records` under `code`; logs what accumulated when the window has passed. */
  note(code: string, records: number, fields: object = {}): void {
    const now = this.now();
    if (this.counts.size === 0) this.since = now;
    this.counts.set(code, (this.counts.get(code) ?? 0) + records);
    if (now - this.lastAt >= this.windowMs) this.emit(now, fields);
  }

  /** Logs what accumulated since the last line (on close). */
  drain(): void {
    if (this.counts.size > 0) this.emit(this.now(), {});
  }

  private emit(now: number, fields: object): void {
    this.log(
      { ...fields, records: Object.fromEntries(this.counts), periodMs: now - this.since },
      this.message,
    );
    this.counts.clear();
    this.lastAt = now;
  }
}
