/**
 * One HTTP request of a source, and the retry policy around it.
 *
 * - {@link fetchJson} sends one request with undici `request()` through a keep-alive dispatcher,
 *   under an overall deadline, streams the body under a byte cap, and parses JSON with errors that
 *   say what came back (short, secret-masked excerpts). It follows no redirect: undici's `request()`
 *   does not unless a redirect interceptor is composed in, and none is, so a 3xx is an error and
 *   credentials never follow a `Location` to another origin.
 * - {@link withRetry} retries a retriable failure through the project's retry module
 *   (`src/retry`: exponential backoff, full jitter), honouring `Retry-After` on 429 and 503.
 *
 * @module
 */

import { Agent, type Dispatcher, request, errors as undiciErrors } from 'undici';
import { parseJsonLossless } from '../../envelope.js';
import {
  backoffDelayMs,
  type RetryOptions,
  type RetryPolicy,
  withRetry as retryWith,
} from '../../retry/index.js';
import { longestSecretLength, maskedExcerpt } from '../../secrets/index.js';
import { parseRateLimitHeaders, parseRetryAfter, type RateLimitInfo } from './ratelimit-headers.js';

export { parseRetryAfter };

import {
  HttpStatusError,
  MalformedResponseError,
  NetworkError,
  PollAbortedError,
  PollerError,
  RequestTimeoutError,
  ResponseTooLargeError,
} from './errors.js';

/**
 * The delay an HTTP failure asks for: `Retry-After` of a 429 or 503 {@link HttpStatusError} (RFC
 * 6585 §4 and RFC 9110 §15.6.4 name it for exactly these two statuses), else `undefined` (backoff).
 */
export function requestedDelayMs(err: unknown): number | undefined {
  return err instanceof HttpStatusError && (err.status === 429 || err.status === 503)
    ? err.retryAfterMs
    : undefined;
}

/**
 * The delay before retrying after `err`: the {@link requestedDelayMs} capped at `maxDelayMs`, else
 * the full-jitter backoff.
 */
export function retryDelayMs(
  err: unknown,
  retryIndex: number,
  policy: RetryPolicy,
  random: () => number,
): number {
  const requested = requestedDelayMs(err);
  return requested === undefined
    ? backoffDelayMs(retryIndex, policy, random)
    : Math.min(requested, policy.maxDelayMs);
}

/**
 * The project's {@link retryWith} for HTTP requests: honours `Retry-After` on 429 and 503, and a
 * stop during a backoff rejects with {@link PollAbortedError}.
 * @throws the last error of `fn`, or {@link PollAbortedError}.
 */
export function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: Omit<RetryOptions, 'requestedDelayMs' | 'abortError'>,
): Promise<T> {
  return retryWith(fn, {
    ...options,
    requestedDelayMs,
    abortError: (cause) => new PollAbortedError('stopped during retry backoff', { cause }),
  });
}

export {
  backoffDelayMs,
  defaultSleep,
  type RetryOptions,
  type RetryPolicy,
  type Sleep,
} from '../../retry/index.js';

const sharedAgents = new Map<number, Agent>();

/**
 * The process-wide keep-alive undici {@link Agent} for a connect timeout: sources with the same
 * `connectTimeoutMs` share connections. Headers and body timeouts are set per request.
 *
 * @param connectTimeoutMs - TCP + TLS connect timeout, in milliseconds.
 */
export function sharedAgent(connectTimeoutMs: number): Agent {
  let agent = sharedAgents.get(connectTimeoutMs);
  if (agent === undefined) {
    agent = new Agent({ connect: { timeout: connectTimeoutMs }, keepAliveTimeout: 4_000 });
    sharedAgents.set(connectTimeoutMs, agent);
  }
  return agent;
}

/** Closes every shared agent (graceful: in-flight requests finish). Call at process shutdown. */
export async function closeSharedAgents(): Promise<void> {
  const agents = [...sharedAgents.values()];
  sharedAgents.clear();
  await Promise.allSettled(agents.map((a) => a.close()));
}

/** One request to send. */
export interface RequestSpec {
  url: string;
  method: 'GET' | 'POST';
  /** Request headers (auth included). */
  headers: Record<string, string>;
  /** Sent as `If-None-Match` (RFC 9110 §13.1.2) when set. */
  etag?: string | undefined;
}

/** How to send it. */
export interface FetchOptions {
  /** The dispatcher (keep-alive agent, or a `MockAgent` in tests). */
  dispatcher: Dispatcher;
  /** Time allowed to receive the response headers, in milliseconds. */
  headersTimeoutMs: number;
  /** Idle time allowed between two body chunks, in milliseconds. */
  bodyTimeoutMs: number;
  /** Overall deadline of the request (connect, headers and the whole body), in milliseconds. */
  requestTimeoutMs: number;
  /** Largest body accepted, in bytes. */
  maxResponseBytes: number;
  /** Aborts the request. */
  signal?: AbortSignal;
  /** Source name, attached to errors. */
  source?: string;
  /** Receives what each response's rate-limit headers say (see `ratelimit-headers.ts`). */
  onRateLimit?: (info: RateLimitInfo) => void;
  /** Clock for `Retry-After` dates, epoch ms. @default Date.now */
  now?: () => number;
}

/** A response the poller accepted: a parsed 2xx JSON body, or a 304. */
export interface FetchedPage {
  url: string;
  status: number;
  /** `true` for 304 Not Modified: `body` is `undefined`. */
  notModified: boolean;
  /** The parsed JSON body (`undefined` for 204 and 304). */
  body: unknown;
  /** Body size in bytes. */
  bytes: number;
  /** The response `ETag`, if any. */
  etag: string | undefined;
  /** The response `Link` header, if any. */
  link: string | string[] | undefined;
}

const firstHeader = (h: string | string[] | undefined): string | undefined => (Array.isArray(h) ? h[0] : h);

/** Longest body excerpt quoted in an error message, in characters. */
export const MAX_EXCERPT_CHARS = 200;

/**
 * Quotes the start (or end) of a body for an error message: at most `n` characters (capped at
 * {@link MAX_EXCERPT_CHARS}), registered secrets masked, JSON-escaped.
 */
export function snippet(text: string, n = 120, from: 'start' | 'end' = 'start'): string {
  return JSON.stringify(maskedExcerpt(text, Math.min(n, MAX_EXCERPT_CHARS), from));
}

/**
 * Reads a body stream into memory, aborting it as soon as more than `limit` bytes arrived.
 * @returns the bytes read, and whether the limit was crossed.
 */
async function readCapped(
  body: Dispatcher.ResponseData['body'],
  limit: number,
): Promise<{ buf: Buffer; over: boolean }> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    total += b.length;
    if (total > limit) {
      body.destroy();
      return { buf: Buffer.concat(chunks), over: true };
    }
    chunks.push(b);
  }
  return { buf: Buffer.concat(chunks, total), over: false };
}

/** Maps an undici / system error to a {@link PollerError} (timeouts and network failures are retriable). */
export function toPollerError(err: unknown, ctx: { url: string; source?: string | undefined }): PollerError {
  if (err instanceof PollerError) return err;
  const opts = { cause: err, url: ctx.url, source: ctx.source };
  const where = `${ctx.url}`;
  if (err instanceof undiciErrors.HeadersTimeoutError) {
    return new RequestTimeoutError(
      'headers',
      `no response headers within headersTimeoutMs from ${where}`,
      opts,
    );
  }
  if (err instanceof undiciErrors.BodyTimeoutError) {
    return new RequestTimeoutError(
      'body',
      `response body stalled longer than bodyTimeoutMs from ${where}`,
      opts,
    );
  }
  if (err instanceof undiciErrors.ConnectTimeoutError) {
    return new RequestTimeoutError('connect', `connect timed out (connectTimeoutMs) to ${where}`, opts);
  }
  if (
    err instanceof undiciErrors.RequestAbortedError ||
    (err instanceof Error && err.name === 'AbortError')
  ) {
    return new PollAbortedError(`request aborted: ${where}`, opts);
  }
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (
    typeof code === 'string' &&
    (/^UND_ERR_/.test(code) || /^(E[A-Z]+|ERR_SSL.*|ERR_TLS.*|CERT_.*|UNABLE_TO_.*)$/.test(code))
  ) {
    return new NetworkError(`${code}: ${message} (${where})`, opts);
  }
  return new PollerError(`request failed: ${message} (${where})`, 'internal', opts);
}

/**
 * Sends one request and returns its parsed JSON body.
 *
 * - 2xx: the body is streamed (capped at `maxResponseBytes`) and parsed; 204 gives `body: undefined`.
 * - 304 (RFC 9110 §15.4.5, after `If-None-Match`): `notModified: true`, no body.
 * - anything else: {@link HttpStatusError}, with `retryAfterMs` from `Retry-After`.
 *
 * @throws ResponseTooLargeError when `Content-Length` announces, or the stream delivers, more than
 *   `maxResponseBytes` (the body is aborted at once).
 * @throws MalformedResponseError for an HTML body, an empty 200 body or invalid/truncated JSON; the
 *   message names the content-type and quotes the first bytes.
 * @throws RequestTimeoutError, NetworkError (retriable), PollAbortedError on `signal`.
 */
export async function fetchJson(spec: RequestSpec, options: FetchOptions): Promise<FetchedPage> {
  const { url } = spec;
  const ctx = { url, source: options.source };
  // One controller aborts the request on a stop (`options.signal`) or at the overall deadline.
  const controller = new AbortController();
  const onStop = (): void => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) onStop();
  else options.signal?.addEventListener('abort', onStop, { once: true });
  let pastDeadline = false;
  const deadline = setTimeout(() => {
    pastDeadline = true;
    controller.abort(new Error('requestTimeoutMs elapsed'));
  }, options.requestTimeoutMs);
  const fail = (err: unknown): PollerError => {
    // Past the deadline, whatever undici reports (an abort, a destroyed body) is the deadline's doing.
    if (
      pastDeadline &&
      !options.signal?.aborted &&
      (!(err instanceof PollerError) || err instanceof PollAbortedError)
    ) {
      return new RequestTimeoutError(
        'total',
        `request not complete within requestTimeoutMs (${options.requestTimeoutMs} ms: connect, headers and body) from ${url}`,
        { ...ctx, cause: err },
      );
    }
    return toPollerError(err, ctx);
  };
  try {
    return await fetchWithin(spec, options, controller.signal);
  } catch (err) {
    throw fail(err);
  } finally {
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', onStop);
  }
}

async function fetchWithin(
  spec: RequestSpec,
  options: FetchOptions,
  signal: AbortSignal,
): Promise<FetchedPage> {
  const { url } = spec;
  const ctx = { url, source: options.source };
  const headers: Record<string, string> = { accept: 'application/json', ...spec.headers };
  if (spec.etag !== undefined) headers['if-none-match'] = spec.etag;
  const res = await request(url, {
    dispatcher: options.dispatcher,
    method: spec.method,
    headers,
    headersTimeout: options.headersTimeoutMs,
    bodyTimeout: options.bodyTimeoutMs,
    signal,
  });
  const { statusCode: status, body } = res;
  options.onRateLimit?.(parseRateLimitHeaders(res.headers, (options.now ?? Date.now)()));
  const contentType = firstHeader(res.headers['content-type']) ?? '(none)';
  const etag = firstHeader(res.headers.etag);
  const link = res.headers.link;
  try {
    if (status === 304) {
      await body.dump();
      return { url, status, notModified: true, body: undefined, bytes: 0, etag, link };
    }
    if (status < 200 || status > 299) {
      // Enough bytes for the excerpt plus the longest secret, so one cut at the edge is masked whole.
      const { buf } = await readCapped(body, 4 * (MAX_EXCERPT_CHARS + longestSecretLength()));
      const nowMs = (options.now ?? Date.now)();
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'], nowMs);
      const location = firstHeader(res.headers.location);
      const redirect =
        status >= 300 && status <= 399 && location !== undefined
          ? ` (redirect to ${location} not followed: the poller follows no redirect; set url to the final location)`
          : '';
      throw new HttpStatusError(
        status,
        `HTTP ${status} from ${url}${redirect}: ${snippet(buf.toString('utf8'), MAX_EXCERPT_CHARS)}`,
        { ...ctx, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
      );
    }
    const declared = Number(firstHeader(res.headers['content-length']));
    if (Number.isFinite(declared) && declared > options.maxResponseBytes) {
      body.destroy();
      throw new ResponseTooLargeError(
        `Content-Length ${declared} exceeds maxResponseBytes ${options.maxResponseBytes} (${url})`,
        options.maxResponseBytes,
        ctx,
      );
    }
    const { buf, over } = await readCapped(body, options.maxResponseBytes);
    if (over) {
      throw new ResponseTooLargeError(
        `response body exceeds maxResponseBytes ${options.maxResponseBytes} (${url}); aborted`,
        options.maxResponseBytes,
        ctx,
      );
    }
    if (status === 204) return { url, status, notModified: false, body: undefined, bytes: 0, etag, link };
    return {
      url,
      status,
      notModified: false,
      body: parseJson(buf, contentType, ctx),
      bytes: buf.length,
      etag,
      link,
    };
  } catch (err) {
    if (!body.destroyed) body.destroy();
    throw err;
  }
}

/**
 * Parses a JSON body, or throws a {@link MalformedResponseError} that says why: HTML instead of JSON
 * (by content-type or a leading `<`), an empty body, or a syntax error (usually truncation).
 */
export function parseJson(
  buf: Buffer,
  contentType: string,
  ctx: { url: string; source?: string | undefined },
): unknown {
  const text = buf.toString('utf8');
  const head = text.trimStart();
  if (/html|xml/i.test(contentType) || head.startsWith('<')) {
    throw new MalformedResponseError(
      `expected JSON, got HTML/markup (content-type ${contentType}, ${buf.length} bytes): ${snippet(text)} (${ctx.url})`,
      ctx,
    );
  }
  if (head === '') {
    throw new MalformedResponseError(
      `empty response body (content-type ${contentType}) from ${ctx.url}`,
      ctx,
    );
  }
  try {
    return parseJsonLossless(text);
  } catch (err) {
    throw new MalformedResponseError(
      `invalid JSON (truncated?) from ${ctx.url}: ${(err as Error).message}; content-type ${contentType}, ${buf.length} bytes, starts ${snippet(text, 60)}, ends ${snippet(text, 60, 'end')}`,
      { ...ctx, cause: err },
    );
  }
}
