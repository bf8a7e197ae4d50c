import { z } from 'zod';
import { registerSecret } from '../../secrets/index.js';
import { AuthSchema } from './auth/config.js';
import { CursorSchema } from './cursor.js';

const AUTH_POINTER =
  'put the secret in an environment variable or Secrets Manager and name it in `auth` (`type: basic` with `username` and `password: { env: NAME }`, or `type: bearer` with `tokenEnv`)';

/**
 * Checks a source URL: `http`/`https` only, and no credentials in it (`https://user:pass@host`).
 * A password found there is registered as a secret first, so the error that quotes the URL is masked.
 */
function checkSourceUrl(value: string, ctx: z.core.$RefinementCtx<string>): void {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return; // z.url() reports it
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `only http and https URLs are accepted, not ${u.protocol}` });
  }
  if (u.username !== '' || u.password !== '') {
    registerSecret(u.password);
    registerSecret(decodeURIComponent(u.password));
    ctx.addIssue({ code: 'custom', message: `credentials in the URL are not accepted: ${AUTH_POINTER}` });
  }
}

/** An origin, `scheme://host[:port]` (RFC 6454), http or https, with nothing after it. */
const OriginSchema = z.string().superRefine((value, ctx) => {
  let u: URL | undefined;
  try {
    u = new URL(value);
  } catch {
    u = undefined;
  }
  const bare =
    u !== undefined &&
    (u.protocol === 'http:' || u.protocol === 'https:') &&
    u.username === '' &&
    u.password === '' &&
    u.pathname === '/' &&
    u.search === '' &&
    u.hash === '';
  if (!bare) {
    ctx.addIssue({
      code: 'custom',
      message: 'expected an origin: http(s)://host[:port], without path, query or credentials',
    });
  }
});

/** Pagination kinds an HTTP source supports. */
export const PaginationSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('none') }).describe('One request returns every record.'),
    z
      .strictObject({
        type: z.literal('pageNumber'),
        pageParam: z.string().default('page').describe('Query parameter carrying the page number.'),
        sizeParam: z.string().optional().describe('Query parameter carrying the page size, if any.'),
        pageSize: z.number().int().positive().optional().describe('Page size to request.'),
        startPage: z.number().int().nonnegative().default(1).describe('Number of the first page.'),
        maxPages: z.number().int().positive().default(1000).describe('Safety cap on pages per poll.'),
      })
      .describe('`?page=1,2,...` until a page returns fewer records than `pageSize` (or none).'),
    z
      .strictObject({
        type: z.literal('offsetLimit'),
        offsetParam: z.string().default('offset').describe('Query parameter carrying the offset.'),
        limitParam: z.string().default('limit').describe('Query parameter carrying the limit.'),
        limit: z.number().int().positive().default(100).describe('Records per request.'),
        maxPages: z.number().int().positive().default(1000).describe('Safety cap on pages per poll.'),
      })
      .describe('`?offset=0&limit=N`, then `offset=N`, ... until a page returns fewer than `limit`.'),
    z
      .strictObject({
        type: z.literal('linkHeader'),
        maxPages: z.number().int().positive().default(1000).describe('Safety cap on pages per poll.'),
      })
      .describe('Follows the RFC 8288 `Link: <url>; rel="next"` header (GitHub style).'),
    z
      .strictObject({
        type: z.literal('bodyCursor'),
        cursorPath: z
          .string()
          .min(1)
          .describe('Dot path of the next-page token in the body, e.g. `meta.next_cursor`.'),
        param: z
          .string()
          .default('cursor')
          .describe('Query parameter carrying the token on the next request.'),
        maxPages: z.number().int().positive().default(1000).describe('Safety cap on pages per poll.'),
      })
      .describe(
        'A token in the body (`{"data":[...],"meta":{"next_cursor":"abc"}}`) sent back as `?cursor=abc`, until the token is absent, null or empty (Stripe, Slack style).',
      ),
    z
      .strictObject({
        type: z.literal('nextUrlInBody'),
        nextUrlPath: z
          .string()
          .min(1)
          .describe('Dot path of the next page URL in the body, e.g. `next` or `links.next`.'),
        maxPages: z.number().int().positive().default(1000).describe('Safety cap on pages per poll.'),
      })
      .describe(
        'The next page URL in the body (`{"results":[...],"next":"https://..."}`), resolved against the page URL, until it is absent, null or empty (Django REST, HAL style). Other origins obey `allowedOrigins`.',
      ),
  ])
  .default({ type: 'none' });

export const RetrySchema = z
  .strictObject({
    maxAttempts: z.number().int().min(1).default(5).describe('Attempts per request, including the first.'),
    baseDelayMs: z.number().int().nonnegative().default(200).describe('Base of the exponential backoff.'),
    maxDelayMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('Cap on one backoff delay, and on a `Retry-After` the service will honour.'),
  })
  .describe('Retries with exponential backoff and full jitter; `Retry-After` on 429/503 is honoured.')
  .default({ maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 30_000 });

/** A source's request budget: token bucket, host cap, sharing through Redis, header awareness. */
export const RateLimitSchema = z
  .strictObject({
    requestsPerSec: z.number().positive().default(5).describe('Token refill rate, in requests per second.'),
    burst: z.number().int().positive().default(5).describe('Bucket size, in requests.'),
    maxConcurrent: z
      .number()
      .int()
      .positive()
      .default(2)
      .describe('Requests of this source in flight at once.'),
    maxConcurrentPerHost: z
      .number()
      .int()
      .positive()
      .default(8)
      .describe(
        'Requests in flight at once to one host, over every source of the task calling it (with `shared`, over every task). When sources of one host disagree, the first one configured is in effect (logged).',
      ),
    shared: z
      .boolean()
      .default(false)
      .describe(
        "Keep the bucket and the host cap in Redis (bottleneck's Redis datastore), so every task polling this source spends one budget together. The Redis URL comes from the environment variable `redisUrlEnv`.",
      ),
    redisUrlEnv: z
      .string()
      .default('INGEST_REDIS_URL')
      .describe(
        'Environment variable holding the Redis URL (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS) when `shared`; its password is masked like any secret.',
      ),
    headerReserve: z
      .number()
      .int()
      .nonnegative()
      .default(1)
      .describe(
        "Requests of the API's own budget (`X-RateLimit-Remaining`, IETF `RateLimit`) left unspent: with fewer left, requests wait for the window's reset; with more, they are spaced `reset / (remaining - headerReserve)` apart when that is slower than `requestsPerSec`.",
      ),
  })
  .default({
    requestsPerSec: 5,
    burst: 5,
    maxConcurrent: 2,
    maxConcurrentPerHost: 8,
    shared: false,
    redisUrlEnv: 'INGEST_REDIS_URL',
    headerReserve: 1,
  })
  .describe(
    "Per-source token bucket and per-host concurrency cap (bottleneck), optionally shared through Redis, slowed by the API's rate-limit headers.",
  );

export const HttpSourceSchema = z
  .strictObject({
    name: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9._-]*$/,
        'expected lower-case letters, digits, `.`, `_` or `-`, starting with a letter or digit',
      )
      .describe('Source name: the envelope `source` and the bronze `source=` partition.'),
    type: z.literal('http').describe('HTTP JSON API polled on an interval.'),
    url: z
      .url()
      .superRefine(checkSourceUrl)
      .describe(
        'Request URL of the first page: `http` or `https`, without credentials (use `auth`). Its origin (scheme, host, port) is the only one pagination links and credentials go to, unless `allowedOrigins` names more.',
      ),
    allowedOrigins: z
      .array(OriginSchema)
      .default([])
      .describe(
        'Further origins (`https://host[:port]`) whose pagination links (`Link` rel=next) may be followed. Requests to them carry no credentials unless the origin is also in `credentialOrigins`. A link to any other origin is not followed: the poll ends there, with a warning and `ingest_source_offorigin_links_total`.',
      ),
    credentialOrigins: z
      .array(OriginSchema)
      .default([])
      .describe(
        'Origins of `allowedOrigins` that also receive the `auth` header (and credential-like `headers`). The origin of `url` always does.',
      ),
    method: z.enum(['GET', 'POST']).default('GET'),
    headers: z
      .record(z.string(), z.string())
      .default({})
      .describe('Extra request headers (no secrets here).'),
    auth: AuthSchema,
    intervalSecs: z.number().positive().default(60).describe('Seconds between the starts of two polls.'),
    jitterSecs: z
      .number()
      .nonnegative()
      .default(0)
      .describe('Random delay up to this, added to each interval.'),
    recordsPath: z
      .string()
      .default('')
      .describe('Dot path to the array of records in the response body; empty for a top-level array.'),
    idField: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .describe(
        'Entity key: a dot path (`id`) or a list of dot paths for a composite key (`[country, station]`, joined as `US|42`). Change detection remembers, per entity key, the id of the last record emitted. When several rows of one page share a key but are different records, each of them is tracked by its record id instead (emitted once, then unchanged while the page stays the same), counted in `ingest_source_duplicate_keys_total` and logged once per page. A row where a path resolves to nothing (absent, null or empty) has no key: its id is the content hash, it is its own entity, and it is counted in `ingest_source_missing_key_fields_total`.',
      ),
    versionField: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Dot path of the upstream version, e.g. `updated_at`; with `idField` the record id is `<key>@<version>`, else `<key>@sha256:<content hash>`. A row without it is counted in `ingest_source_missing_key_fields_total` and logged once per page.',
      ),
    eventTimeField: z
      .string()
      .optional()
      .describe('Dot path of the event time (ISO-8601 string or epoch milliseconds) for `event_time`.'),
    timezone: z
      .string()
      .default('UTC')
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat('en-US', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'unknown IANA time zone')
      .describe(
        'IANA time zone (e.g. `Europe/Paris`) of zoneless upstream times (`2024-03-01T10:15:00`, no `Z` or offset) in `eventTimeField`; the lake entity of this source takes it, so Spark reads its `timestamp` columns alike (issue 11).',
      ),
    partitionKeyField: z
      .string()
      .optional()
      .describe(
        'Dot path of the partition key (Kinesis: 1-256 characters; longer keys are hashed). A row where it resolves to nothing gets the default, counted in ingest_source_missing_key_fields_total. @default `<source>:<entity key>`, so an entity stays on one shard and sources never share a key (ADR 17)',
      ),
    emit: z
      .enum(['changed', 'all'])
      .default('changed')
      .describe(
        '`changed`: only records whose id differs from the last one emitted for their entity key (see `idField`, ADR 3); `all`: every record every poll, no change-detection state.',
      ),
    maxTrackedIds: z
      .number()
      .int()
      .nonnegative()
      .default(100_000)
      .describe(
        'Change-detection entries cached in memory per source (LRU, about 160 bytes each) in front of the state store, which keeps every entity (`seen.sqlite` locally, one DynamoDB item per entity). An entry not cached is read from the store; 0 disables the cache.',
      ),
    conditionalRequests: z.boolean().default(true).describe('Send `If-None-Match` with the last `ETag`.'),
    maxPagesInFlight: z
      .number()
      .int()
      .positive()
      .default(16)
      .describe(
        'Pages fetched ahead while earlier pages wait for the sink: the next page is requested as soon as a page is handed to the sink, and acknowledgements (change-detection entries, ETags) are still stored in page order. Enough pages to fill full PutRecords batches (500 records) keep the sink busy; 1 is page-serial.',
      ),
    pagination: PaginationSchema,
    cursor: CursorSchema.optional(),
    rateLimit: RateLimitSchema,
    breaker: z
      .strictObject({
        errorThresholdPercentage: z.number().min(1).max(100).default(50),
        volumeThreshold: z
          .number()
          .int()
          .nonnegative()
          .default(5)
          .describe(
            'Polls within the rolling window (2 × volumeThreshold intervals, at least 10 s) before the breaker may open; the breaker wraps whole polls.',
          ),
        resetTimeoutMs: z
          .number()
          .int()
          .positive()
          .default(30_000)
          .describe('Open time before a half-open trial.'),
      })
      .default({ errorThresholdPercentage: 50, volumeThreshold: 5, resetTimeoutMs: 30_000 })
      .describe('Per-source circuit breaker (opossum) around each poll.'),
    retry: RetrySchema,
    connectTimeoutMs: z.number().int().positive().default(5_000).describe('TCP/TLS connect timeout.'),
    headersTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('Time to receive response headers.'),
    bodyTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('Idle time allowed between body chunks.'),
    requestTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(60_000)
      .describe(
        'Overall deadline of one request attempt (connect, headers and the whole body), on top of the idle timeouts; a request past it fails with class `timeout` and is retried. Each retry gets a fresh deadline.',
      ),
    maxResponseBytes: z
      .number()
      .int()
      .positive()
      .default(16 * 1024 * 1024)
      .describe('Largest response body accepted; a larger one is an error, counted, and not parsed.'),
    sink: z.string().optional().describe('Name of the sink to write to. @default the only sink'),
  })
  .superRefine((source, ctx) => {
    const allowed = new Set(source.allowedOrigins.map(originOf));
    source.credentialOrigins.forEach((o, i) => {
      if (!allowed.has(originOf(o))) {
        ctx.addIssue({
          code: 'custom',
          path: ['credentialOrigins', i],
          message: 'a credential origin must also be listed in `allowedOrigins`',
        });
      }
    });
  })
  .describe('A JSON HTTP API polled continuously.');

/** The normalised origin of a URL (`https://host[:port]`, default port omitted); the input when it is no URL. */
export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

export type HttpSourceConfig = z.infer<typeof HttpSourceSchema>;
export type PaginationConfig = z.infer<typeof PaginationSchema>;
