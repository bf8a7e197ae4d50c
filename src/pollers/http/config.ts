import { z } from 'zod';

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
    url: z.url().describe('Request URL of the first page.'),
    method: z.enum(['GET', 'POST']).default('GET'),
    headers: z
      .record(z.string(), z.string())
      .default({})
      .describe('Extra request headers (no secrets here).'),
    auth: z
      .discriminatedUnion('type', [
        z.strictObject({
          type: z.literal('bearer'),
          tokenEnv: z.string().describe('Environment variable holding the token.'),
        }),
        z.strictObject({
          type: z.literal('header'),
          header: z.string().describe('Header name, e.g. `X-Api-Key`.'),
          valueEnv: z.string().describe('Environment variable holding the value.'),
        }),
      ])
      .optional()
      .describe('Authentication. Secrets come only from environment variables named here.'),
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
    idField: z.string().optional().describe('Dot path of the upstream key, e.g. `id`.'),
    versionField: z
      .string()
      .optional()
      .describe(
        'Dot path of the upstream version, e.g. `updated_at`; with `idField` it makes the record id.',
      ),
    eventTimeField: z
      .string()
      .optional()
      .describe('Dot path of the event time (ISO-8601 string or epoch milliseconds) for `event_time`.'),
    partitionKeyField: z.string().optional().describe('Dot path of the partition key. @default idField'),
    emit: z
      .enum(['changed', 'all'])
      .default('changed')
      .describe('`changed`: only records whose id was not emitted before; `all`: every record every poll.'),
    maxTrackedIds: z
      .number()
      .int()
      .positive()
      .default(100_000)
      .describe('Entities remembered for change detection (LRU); an evicted one is re-emitted once.'),
    conditionalRequests: z.boolean().default(true).describe('Send `If-None-Match` with the last `ETag`.'),
    pagination: PaginationSchema,
    rateLimit: z
      .strictObject({
        requestsPerSec: z.number().positive().default(5).describe('Token refill rate.'),
        burst: z.number().int().positive().default(5).describe('Bucket size.'),
        maxConcurrent: z.number().int().positive().default(2).describe('Requests in flight at once.'),
      })
      .default({ requestsPerSec: 5, burst: 5, maxConcurrent: 2 })
      .describe('Per-source token bucket (bottleneck).'),
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
    maxResponseBytes: z
      .number()
      .int()
      .positive()
      .default(16 * 1024 * 1024)
      .describe('Largest response body accepted; a larger one is an error, counted, and not parsed.'),
    sink: z.string().optional().describe('Name of the sink to write to. @default the only sink'),
  })
  .describe('A JSON HTTP API polled continuously.');

export type HttpSourceConfig = z.infer<typeof HttpSourceSchema>;
export type PaginationConfig = z.infer<typeof PaginationSchema>;
