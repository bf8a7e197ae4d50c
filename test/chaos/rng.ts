/**
 * A small seeded PRNG (mulberry32) so a chaos run can be replayed with the same `CHAOS_SEED`: the
 * same fault choices, gaps and durations (process timing still varies).
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: readonly T[]): T[];
}

export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min + 1));
  return {
    next,
    int,
    pick: (items) => items[int(0, items.length - 1)]!,
    shuffle: (items) => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(0, i);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
  };
}

/**
 * Deals kinds from shuffled decks, so every kind comes up once before any comes up twice. `last`
 * kinds are dealt at the end of the first deck (a fault that can wedge a source, such as a
 * trickle, should not hide the others in a short run).
 */
export class Deck<K extends string> {
  private cards: K[] = [];
  private first = true;
  private dealt = 0;
  private readonly kinds: readonly K[];
  private readonly rng: Rng;
  private readonly last: readonly K[];

  constructor(kinds: readonly K[], rng: Rng, last: readonly K[] = []) {
    this.kinds = kinds;
    this.rng = rng;
    this.last = last;
  }

  /** Whether the first deck is still being dealt (every kind has not come up yet). */
  get inFirstDeck(): boolean {
    return this.dealt < this.kinds.length;
  }

  next(): K {
    this.dealt++;
    if (this.cards.length === 0) {
      if (this.first) {
        const rest = this.kinds.filter((k) => !this.last.includes(k));
        this.cards = [...this.rng.shuffle(rest), ...this.last];
        this.first = false;
      } else this.cards = this.rng.shuffle(this.kinds);
    }
    return this.cards.shift()!;
  }
}
