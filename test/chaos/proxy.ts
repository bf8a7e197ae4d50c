/**
 * A TCP proxy in front of the Kinesis emulator that can stall: while stalled it stops forwarding in
 * both directions (sockets paused, new connections accepted but not connected onward), as a network
 * partition or a hung endpoint would. Stalls nest (a counter), and the target port can change when
 * the emulator restarts.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream?: Socket;
}

export class StallProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<Pair>();
  private depth = 0;
  private stalledSince = 0;
  /** Seconds spent stalled so far. */
  stalledSecs = 0;
  targetPort: number;
  port = 0;

  constructor(targetPort: number) {
    this.targetPort = targetPort;
  }

  get stalled(): boolean {
    return this.depth > 0;
  }

  async start(): Promise<string> {
    this.server = createServer((client) => {
      const pair: Pair = { client };
      this.pairs.add(pair);
      client.on('error', () => pair.upstream?.destroy());
      client.on('close', () => {
        pair.upstream?.destroy();
        this.pairs.delete(pair);
      });
      client.on('data', (b) => pair.upstream?.write(b));
      client.pause();
      if (!this.stalled) this.connectUpstream(pair);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
    return `http://127.0.0.1:${this.port}`;
  }

  stall(): void {
    if (this.depth++ === 0) {
      this.stalledSince = Date.now();
      for (const p of this.pairs) {
        p.client.pause();
        p.upstream?.pause();
      }
    }
  }

  unstall(): void {
    if (this.depth === 0) return;
    if (--this.depth > 0) return;
    this.stalledSecs += (Date.now() - this.stalledSince) / 1000;
    for (const p of this.pairs) {
      if (!p.upstream) this.connectUpstream(p);
      else {
        p.upstream.resume();
        p.client.resume();
      }
    }
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private connectUpstream(pair: Pair): void {
    const up = connect(this.targetPort, '127.0.0.1');
    pair.upstream = up;
    up.on('data', (b) => pair.client.write(b));
    up.on('error', () => pair.client.destroy());
    up.on('close', () => pair.client.destroy());
    up.once('connect', () => {
      if (this.stalled) up.pause();
      else pair.client.resume();
    });
  }
}
