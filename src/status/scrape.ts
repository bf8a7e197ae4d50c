/**
 * Reads the Prometheus text exposition (format 0.0.4) that every role serves on `/metrics`: just
 * enough of it for `ingest status` (samples with labels; comments and `# TYPE` lines skipped).
 *
 * @module
 */

/** One sample: metric name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses `{a="x",b="y \"q\""}` label sets (escapes `\\`, `\"`, `\n`). */
function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const m of text.matchAll(re)) {
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/**
 * Parses an exposition into samples.
 * @example parseExposition('ingest_x{source="a"} 3\n') // [{ name: 'ingest_x', labels: { source: 'a' }, value: 3 }]
 */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    if (brace >= 0 && brace < space) {
      const close = line.lastIndexOf('}');
      name = line.slice(0, brace);
      labels = parseLabels(line.slice(brace + 1, close));
      rest = line.slice(close + 1).trim();
    } else {
      name = line.slice(0, line.indexOf(' '));
      rest = line.slice(name.length).trim();
    }
    const value = Number(rest.split(/\s+/)[0]);
    if (!Number.isNaN(value)) out.push({ name, labels, value });
  }
  return out;
}

/**
 * Fetches and parses one `/metrics` endpoint.
 * @throws Error naming the URL when it does not answer within `timeoutMs` or answers non-200.
 */
export async function scrape(url: string, timeoutMs = 3_000): Promise<Sample[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url} answered HTTP ${res.status}`);
  return parseExposition(text);
}
