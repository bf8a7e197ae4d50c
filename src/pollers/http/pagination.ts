/**
 * Pagination of an HTTP source: pure functions that give the first page's URL and, from one page's
 * response, the next page's URL. Kinds (see `PaginationSchema` in `config.ts`):
 * - `none`: one request;
 * - `pageNumber`: `?page=1,2,...` until a page has fewer records than `pageSize` (or none);
 * - `offsetLimit`: `?offset=0&limit=N`, `offset=N`, ... until a page has fewer than `limit`;
 * - `linkHeader`: follow the `rel="next"` target of the RFC 8288 `Link` header.
 *
 * The `maxPages` cap is enforced by the caller (it knows how many pages it fetched).
 *
 * @module
 */
import { getPath } from '../../envelope.js';
import type { PaginationConfig } from './config.js';

/** One parsed link-value of an RFC 8288 `Link` header. */
export interface WebLink {
  /** The target URI, resolved against the base URL when one was given (RFC 8288 §3.1). */
  href: string;
  /** Relation types, lower-cased (RFC 8288 §2.1: compared case-insensitively); empty when no `rel`. */
  rel: string[];
  /**
   * Every target attribute by lower-cased name, values unquoted and unescaped. A parameter that
   * occurs more than once keeps its first value (RFC 8288 §3.3 requires this for `rel`).
   */
  params: Record<string, string>;
}

const isWs = (c: string | undefined): boolean => c === ' ' || c === '\t';

/**
 * Parses an RFC 8288 §3 `Link` header field value (or several field lines, as a list) into its
 * link-values. Tolerant: a malformed link-value is skipped, never thrown on.
 *
 * - Commas and semicolons inside `<...>` or inside a quoted-string do not split.
 * - `rel` is a space-separated list of relation types, quoted (`rel="next last"`) or not (`rel=next`).
 * - Targets are resolved against `baseUrl` when given (relative references, RFC 3986 §5); a target
 *   that cannot be resolved is returned as written.
 *
 * @param header - the field value, or the field lines when the header was repeated.
 * @param baseUrl - URL of the request that got the response, for relative targets.
 */
export function parseLinkHeader(header: string | readonly string[], baseUrl?: string): WebLink[] {
  const lines = typeof header === 'string' ? [header] : header;
  const out: WebLink[] = [];
  for (const s of lines) {
    let i = 0;
    const skipWs = (): void => {
      while (isWs(s[i])) i++;
    };
    /** Skips to just after the next top-level comma (quoted strings respected). */
    const skipToComma = (): void => {
      while (i < s.length && s[i] !== ',') {
        if (s[i] === '"') {
          i++;
          while (i < s.length && s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
        }
        i++;
      }
      i++;
    };
    while (i < s.length) {
      while (isWs(s[i]) || s[i] === ',') i++;
      if (i >= s.length) break;
      if (s[i] !== '<') {
        skipToComma();
        continue;
      }
      const end = s.indexOf('>', i + 1);
      if (end < 0) break;
      const target = s.slice(i + 1, end).trim();
      i = end + 1;
      const params: Record<string, string> = {};
      for (;;) {
        skipWs();
        if (s[i] !== ';') break;
        i++;
        skipWs();
        let name = '';
        while (i < s.length && !'=;,'.includes(s[i]!) && !isWs(s[i])) name += s[i++];
        skipWs();
        let value = '';
        if (s[i] === '=') {
          i++;
          skipWs();
          if (s[i] === '"') {
            i++;
            while (i < s.length && s[i] !== '"') {
              if (s[i] === '\\' && i + 1 < s.length) i++;
              value += s[i++];
            }
            i++;
          } else {
            while (i < s.length && !';,'.includes(s[i]!) && !isWs(s[i])) value += s[i++];
          }
        }
        name = name.toLowerCase();
        if (name !== '' && !Object.hasOwn(params, name)) params[name] = value;
      }
      skipWs();
      if (i < s.length && s[i] !== ',') skipToComma();
      out.push({ href: resolveUrl(target, baseUrl), rel: splitRel(params.rel), params });
    }
  }
  return out;
}

function splitRel(rel: string | undefined): string[] {
  return (rel ?? '')
    .split(/[ \t]+/)
    .filter((r) => r !== '')
    .map((r) => r.toLowerCase());
}

function resolveUrl(target: string, base: string | undefined): string {
  try {
    return new URL(target, base).href;
  } catch {
    return target;
  }
}

/**
 * The target of the first link whose relation types include `rel` (case-insensitive), or `undefined`.
 *
 * @param header - the `Link` field value(s); `undefined` when the response had none.
 * @param rel - relation type, e.g. `next`.
 * @param baseUrl - URL of the request, for relative targets.
 */
export function findLink(
  header: string | readonly string[] | undefined,
  rel: string,
  baseUrl?: string,
): string | undefined {
  if (header === undefined) return undefined;
  const want = rel.toLowerCase();
  return parseLinkHeader(header, baseUrl).find((l) => l.rel.includes(want))?.href;
}

function withParams(url: string, params: Record<string, string | number>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, String(v));
  return u.href;
}

/**
 * URL of the first page: the configured URL, plus the page/offset parameters the kind needs
 * (`pageNumber`: `pageParam=startPage` and `sizeParam=pageSize` when both are set;
 * `offsetLimit`: `offsetParam=0&limitParam=limit`). Existing query parameters are kept.
 */
export function firstPageUrl(url: string, pagination: PaginationConfig): string {
  switch (pagination.type) {
    case 'none':
    case 'linkHeader':
    case 'bodyCursor':
    case 'nextUrlInBody':
      return url;
    case 'pageNumber':
      return withParams(url, {
        [pagination.pageParam]: pagination.startPage,
        ...(pagination.sizeParam !== undefined && pagination.pageSize !== undefined
          ? { [pagination.sizeParam]: pagination.pageSize }
          : {}),
      });
    case 'offsetLimit':
      return withParams(url, { [pagination.offsetParam]: 0, [pagination.limitParam]: pagination.limit });
  }
}

/** What {@link nextPageUrl} needs to know about the page just fetched. */
export interface PageInfo {
  /** URL the page was requested at. */
  url: string;
  /** 0-based index of the page within the poll. */
  pageIndex: number;
  /** Records the page held. */
  recordCount: number;
  /** The response's `Link` header, if any. */
  link?: string | readonly string[] | undefined;
  /** The parsed body (for `bodyCursor` and `nextUrlInBody`). */
  body?: unknown;
}

/** A non-empty string or number at `path` in a body, as a string. */
function tokenAt(body: unknown, path: string): string | undefined {
  const v = body === undefined ? undefined : getPath(body, path);
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * URL of the page after `page`, or `undefined` when `page` was the last one.
 *
 * - `none`: always `undefined`.
 * - `pageNumber`: stops on an empty page, or on a short page (`recordCount < pageSize`) when
 *   `pageSize` is set; otherwise the next page number (`startPage + pageIndex + 1`).
 * - `offsetLimit`: stops on a short page (`recordCount < limit`); otherwise
 *   `offset = (pageIndex + 1) * limit`.
 * - `linkHeader`: the `rel="next"` target (resolved against `page.url`), else `undefined`.
 * - `bodyCursor`: `page.url` with `param` set to the token at `cursorPath`, else `undefined`.
 * - `nextUrlInBody`: the URL at `nextUrlPath` (resolved against `page.url`), else `undefined`.
 *
 * Does not apply `maxPages`.
 */
export function nextPageUrl(pagination: PaginationConfig, page: PageInfo): string | undefined {
  switch (pagination.type) {
    case 'none':
      return undefined;
    case 'pageNumber': {
      if (page.recordCount === 0) return undefined;
      if (pagination.pageSize !== undefined && page.recordCount < pagination.pageSize) return undefined;
      return withParams(page.url, { [pagination.pageParam]: pagination.startPage + page.pageIndex + 1 });
    }
    case 'offsetLimit': {
      if (page.recordCount < pagination.limit) return undefined;
      return withParams(page.url, {
        [pagination.offsetParam]: (page.pageIndex + 1) * pagination.limit,
        [pagination.limitParam]: pagination.limit,
      });
    }
    case 'linkHeader':
      return findLink(page.link, 'next', page.url);
    case 'bodyCursor': {
      const token = tokenAt(page.body, pagination.cursorPath);
      return token === undefined ? undefined : withParams(page.url, { [pagination.param]: token });
    }
    case 'nextUrlInBody': {
      const next = tokenAt(page.body, pagination.nextUrlPath);
      return next === undefined ? undefined : resolveUrl(next, page.url);
    }
  }
}

/** The page cap of a pagination config (`1` for `none`). */
export function maxPagesOf(pagination: PaginationConfig): number {
  return pagination.type === 'none' ? 1 : pagination.maxPages;
}
