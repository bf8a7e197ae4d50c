/**
 * Errors of the HTTP poller. Every error is an {@link IngestError}: it says itself whether retrying
 * may help (`retriable`, read by {@link isRetriable}) and which {@link FailureClass} it counts under
 * in `ingest_source_errors_total{class}`.
 *
 * @module
 */
import { type FailureClass, IngestError, type IngestErrorOptions } from '../../errors.js';
import { mask } from '../../secrets/index.js';

/**
 * Base class of every error the HTTP poller throws on purpose. Its `message` and `url` are masked
 * (`src/secrets`): they quote URLs and response bodies, which may echo a configured secret.
 */
export class PollerError extends IngestError {
  /** The source (config `name`) the error belongs to, when known. */
  readonly source: string | undefined;
  /** The request URL the error belongs to, when it came from one request. */
  readonly url: string | undefined;

  constructor(
    message: string,
    failureClass: FailureClass,
    options: IngestErrorOptions & { source?: string; url?: string } = {},
  ) {
    super(mask(message), failureClass, options);
    this.source = options.source;
    this.url = options.url === undefined ? undefined : mask(options.url);
  }
}

/** Extra context every poller error accepts. */
export interface PollerErrorOptions {
  cause?: unknown;
  source?: string;
  url?: string;
}

/**
 * The upstream answered with a status the poller does not accept (anything but 2xx and 304).
 *
 * Retriable for 408 (Request Timeout), 429 (Too Many Requests) and every 5xx, as RFC 9110 §15.5.9,
 * RFC 6585 §4 and §15.6 describe them as transient; every other status is not.
 * Failure class: `throttled` for 429, `http_5xx` for 5xx, `http_4xx` otherwise (including a 3xx:
 * the poller follows no redirect, so credentials never go where a redirect points).
 */
export class HttpStatusError extends PollerError {
  /** The HTTP status code. */
  readonly status: number;
  /**
   * The delay the server asked for with `Retry-After` (RFC 9110 §10.2.3), in milliseconds, already
   * converted from delay-seconds or an HTTP-date; `undefined` when absent or unparseable.
   */
  readonly retryAfterMs: number | undefined;

  constructor(status: number, message: string, options: PollerErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, HttpStatusError.classOf(status), {
      ...options,
      retriable: HttpStatusError.isRetriableStatus(status),
    });
    this.status = status;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** Whether a status is worth retrying: 408, 429 and 5xx. */
  static isRetriableStatus(status: number): boolean {
    return status === 408 || status === 429 || (status >= 500 && status <= 599);
  }

  /** The failure class of a status: `throttled` (429), `http_5xx` (5xx) or `http_4xx` (anything else). */
  static classOf(status: number): FailureClass {
    if (status === 429) return 'throttled';
    if (status >= 500) return 'http_5xx';
    return 'http_4xx';
  }
}

/**
 * The response body is not the JSON the source expects: HTML (a login page, a proxy error page),
 * truncated or otherwise invalid JSON, an empty body, or no array at `recordsPath`.
 * Not retriable (the same request will most likely get the same answer); class `malformed_response`.
 */
export class MalformedResponseError extends PollerError {
  constructor(message: string, options: PollerErrorOptions = {}) {
    super(message, 'malformed_response', { ...options, retriable: false });
  }
}

/**
 * The response body is larger than `maxResponseBytes` (announced by `Content-Length` or counted while
 * streaming; the body is aborted as soon as the cap is crossed). Not retriable; class
 * `response_too_large`.
 */
export class ResponseTooLargeError extends PollerError {
  /** The configured cap, in bytes. */
  readonly limitBytes: number;

  constructor(message: string, limitBytes: number, options: PollerErrorOptions = {}) {
    super(message, 'response_too_large', { ...options, retriable: false });
    this.limitBytes = limitBytes;
  }
}

/** Which limit a {@link RequestTimeoutError} hit: an idle timeout of one phase, or the overall deadline. */
export type TimeoutPhase = 'connect' | 'headers' | 'body' | 'total';

/**
 * Connecting, receiving the headers or receiving the next body chunk took longer than
 * `connectTimeoutMs`, `headersTimeoutMs` or `bodyTimeoutMs`, or the whole request (connect, headers
 * and body together) took longer than `requestTimeoutMs` (phase `total`: a trickling upstream).
 * Retriable; class `timeout`.
 */
export class RequestTimeoutError extends PollerError {
  /** Which limit was hit. */
  readonly phase: TimeoutPhase;

  constructor(phase: TimeoutPhase, message: string, options: PollerErrorOptions = {}) {
    super(message, 'timeout', { ...options, retriable: true });
    this.phase = phase;
  }
}

/** The connection failed or broke (refused, reset, DNS, closed mid-body). Retriable; class `network`. */
export class NetworkError extends PollerError {
  constructor(message: string, options: PollerErrorOptions = {}) {
    super(message, 'network', { ...options, retriable: true });
  }
}

/**
 * The source's circuit breaker is open (or half-open with its trial poll in flight): the poll was
 * not attempted. Not retriable within the poll (the next scheduled poll tries again); class
 * `circuit_open`.
 */
export class CircuitOpenError extends PollerError {
  constructor(message: string, options: PollerErrorOptions = {}) {
    super(message, 'circuit_open', { ...options, retriable: false });
  }
}

/** The source was stopped while the poll ran (a backoff or request was abandoned). Class `internal`. */
export class PollAbortedError extends PollerError {
  constructor(message: string, options: PollerErrorOptions = {}) {
    super(message, 'internal', { ...options, retriable: false });
  }
}
