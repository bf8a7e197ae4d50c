/**
 * Reads what an API says about its own rate limit from the response headers, so the limiter can slow
 * down before the API answers 429:
 * - `Retry-After` (RFC 9110 §10.2.3), delay-seconds or an HTTP-date;
 * - `X-RateLimit-Limit` / `-Remaining` / `-Reset` (GitHub, Twitter, many others; `-Reset` is epoch
 *   seconds when larger than 10^9, else seconds from now);
 * - the IETF draft `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers): the structured form
 *   `RateLimit: "default";r=50;t=30` with `RateLimit-Policy: "default";q=100;w=60` (draft 08+), the
 *   dictionary form `RateLimit: limit=100, remaining=50, reset=30` (drafts 05-07), and the separate
 *   `RateLimit-Limit` / `-Remaining` / `-Reset` fields (drafts 00-04).
 *
 * @module
 */

/**
 * Parses a `Retry-After` header (RFC 9110 §10.2.3): either `delay-seconds` (a non-negative
 * integer) or an HTTP-date (IMF-fixdate, or the obsolete RFC 850 / asctime forms `Date.parse`
 * understands).
 *
 * @param value - the header value (the first one when repeated).
 * @param nowMs - the current time in epoch milliseconds, for an HTTP-date.
 * @returns the delay in milliseconds (0 for a date in the past), or `undefined` when absent or invalid.
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  nowMs: number,
): number | undefined {
  const raw = (typeof value === 'string' ? value : value?.[0])?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  // Every HTTP-date form (IMF-fixdate, RFC 850, asctime) starts with a day name.
  if (!/^[A-Za-z]{3}/.test(raw)) return undefined;
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** What the headers of one response say about the budget left. Every field is optional. */
export interface RateLimitInfo {
  /** Requests left in the current window. */
  remaining?: number;
  /** Requests allowed per window (the quota). */
  limit?: number;
  /** Milliseconds until the window resets (the quota is restored). */
  resetMs?: number;
  /** Window length in milliseconds (`RateLimit-Policy` `w`). */
  windowMs?: number;
  /** Milliseconds the server asked us to wait (`Retry-After`). */
  retryAfterMs?: number;
}

type Headers = Record<string, string | string[] | undefined>;

const first = (v: string | string[] | undefined): string | undefined =>
  (Array.isArray(v) ? v[0] : v)?.trim() || undefined;

/** A non-negative number, or `undefined`. */
function num(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+(\.\d+)?$/.test(v)) return undefined;
  return Number(v);
}

/** `X-RateLimit-Reset`: epoch seconds when above 10^9, else delta seconds. */
function resetFromXHeader(v: string | undefined, nowMs: number): number | undefined {
  const n = num(v);
  if (n === undefined) return undefined;
  return n > 1e9 ? Math.max(0, n * 1000 - nowMs) : n * 1000;
}

/** The parameters of the first item of a structured-field list: `"p";r=50;t=30` → `{ r: '50', t: '30' }`. */
function itemParams(v: string): Record<string, string> {
  const firstItem = v.split(',')[0] ?? '';
  const out: Record<string, string> = {};
  for (const part of firstItem.split(';').slice(1)) {
    const [k, val] = part.split('=');
    if (k !== undefined && val !== undefined) out[k.trim().toLowerCase()] = val.trim();
  }
  return out;
}

/** A dictionary `limit=100, remaining=50, reset=30` → its members. */
function dictionary(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of v.split(',')) {
    const [k, val] = part.split('=');
    if (k !== undefined && val !== undefined) out[k.trim().toLowerCase()] = val.split(';')[0]!.trim();
  }
  return out;
}

const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/**
 * Parses the rate-limit headers of a response (header names lower-case, as undici gives them).
 * The IETF fields win over `X-RateLimit-*` when both are present.
 *
 * @param headers - the response headers.
 * @param nowMs - the current time, epoch milliseconds (for HTTP-dates and epoch resets).
 * @returns what the headers say; `{}` when they say nothing.
 * @example
 * ```ts
 * parseRateLimitHeaders({ 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '2' }, Date.now());
 * // { remaining: 3, resetMs: 2000 }
 * ```
 */
export function parseRateLimitHeaders(headers: Headers, nowMs: number): RateLimitInfo {
  const info: RateLimitInfo = {};
  const retryAfterMs = parseRetryAfter(headers['retry-after'], nowMs);
  if (retryAfterMs !== undefined) info.retryAfterMs = retryAfterMs;

  const x = defined({
    limit: num(first(headers['x-ratelimit-limit'])),
    remaining: num(first(headers['x-ratelimit-remaining'])),
    resetMs: resetFromXHeader(first(headers['x-ratelimit-reset']), nowMs),
  });
  const separate = defined({
    limit: num(first(headers['ratelimit-limit'])),
    remaining: num(first(headers['ratelimit-remaining'])),
    resetMs: mul(num(first(headers['ratelimit-reset'])), 1000),
  });
  let ietf: RateLimitInfo = {};
  const combined = first(headers.ratelimit);
  if (combined !== undefined) {
    if (combined.includes(';') && /(^|;)\s*r=/.test(combined)) {
      const p = itemParams(combined);
      ietf = defined({ remaining: num(p.r), resetMs: mul(num(p.t), 1000) });
    } else {
      const d = dictionary(combined);
      ietf = defined({ limit: num(d.limit), remaining: num(d.remaining), resetMs: mul(num(d.reset), 1000) });
    }
  }
  const policy = first(headers['ratelimit-policy']);
  if (policy !== undefined) {
    const p = itemParams(policy);
    // Drafts 05-07: `100;w=60` (the quota is the bare item); draft 08+: `"default";q=100;w=60`.
    const q = num(p.q) ?? num(policy.split(/[;,]/)[0]?.trim());
    const w = num(p.w);
    if (q !== undefined) ietf.limit = q;
    if (w !== undefined) ietf.windowMs = w * 1000;
  }
  return { ...x, ...separate, ...ietf, ...info };
}

function mul(v: number | undefined, by: number): number | undefined {
  return v === undefined ? undefined : v * by;
}
