import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PaginationSchema } from './config.js';
import { findLink, firstPageUrl, maxPagesOf, nextPageUrl, parseLinkHeader } from './pagination.js';

interface RawPair {
  path: string;
  rawHeaders: string[];
  response: unknown[];
}
const fixture = JSON.parse(
  readFileSync(new URL('../../../fixtures/github/paginate-issues.raw-fixture.json', import.meta.url), 'utf8'),
) as RawPair[];
/** The `Link` header of a recorded pair (headers are a flat name, value, ... list). */
function linkOf(pair: RawPair): string | undefined {
  for (let i = 0; i < pair.rawHeaders.length; i += 2) {
    if (pair.rawHeaders[i]!.toLowerCase() === 'link') return pair.rawHeaders[i + 1];
  }
  return undefined;
}
const GH = 'https://api.github.com';

describe('parseLinkHeader', () => {
  it('parses the real GitHub Link headers of the 5 issues pages (pairs 14-18)', () => {
    const pages = fixture.slice(14, 19);
    expect(pages.map((p) => p.response.length)).toEqual([3, 3, 3, 3, 1]);
    const first = parseLinkHeader(linkOf(pages[0]!)!, GH + pages[0]!.path);
    expect(first).toEqual([
      {
        href: `${GH}/repositories/515435940/issues?per_page=3&page=2`,
        rel: ['next'],
        params: { rel: 'next' },
      },
      {
        href: `${GH}/repositories/515435940/issues?per_page=3&page=5`,
        rel: ['last'],
        params: { rel: 'last' },
      },
    ]);
    const middle = parseLinkHeader(linkOf(pages[2]!)!);
    expect(middle.map((l) => l.rel[0])).toEqual(['prev', 'next', 'last', 'first']);
    expect(findLink(linkOf(pages[2]!), 'next')).toBe(`${GH}/repositories/515435940/issues?per_page=3&page=4`);
    // The last page has prev and first only: no next.
    expect(findLink(linkOf(pages[4]!), 'next')).toBeUndefined();
    expect(findLink(linkOf(pages[4]!), 'first')).toBe(
      `${GH}/repositories/515435940/issues?per_page=3&page=1`,
    );
  });

  it('follows the next links of the fixture through all 5 pages in order', () => {
    const pages = fixture.slice(14, 19);
    const urls = [GH + pages[0]!.path];
    for (let i = 0; i < 10; i++) {
      const next = findLink(linkOf(pages[i]!), 'next', urls[i]);
      if (next === undefined) break;
      urls.push(next);
    }
    expect(urls.slice(1)).toEqual(pages.slice(1).map((p) => GH + p.path));
  });

  it('handles a space-separated rel list, quoted or not, case-insensitively', () => {
    const links = parseLinkHeader('<https://x.test/a>; rel="Next LAST", <https://x.test/b>;rel=prev');
    expect(links[0]!.rel).toEqual(['next', 'last']);
    expect(links[1]!.rel).toEqual(['prev']);
    expect(findLink('<https://x.test/a>; rel="last next"', 'NEXT')).toBe('https://x.test/a');
  });

  it('does not split on commas or semicolons inside quoted strings or inside <...>', () => {
    const header =
      '<https://x.test/p?a=1,2;b=3>; title="one, two; three"; rel="next", <https://x.test/q>; rel="prev"; title="x\\"y"';
    const links = parseLinkHeader(header);
    expect(links).toHaveLength(2);
    expect(links[0]).toMatchObject({ href: 'https://x.test/p?a=1,2;b=3', rel: ['next'] });
    expect(links[0]!.params.title).toBe('one, two; three');
    expect(links[1]!.params.title).toBe('x"y');
  });

  it('resolves relative references against the request URL (RFC 3986 §5)', () => {
    const base = 'https://api.test/v1/items?page=1';
    expect(findLink('</v1/items?page=2>; rel="next"', 'next', base)).toBe('https://api.test/v1/items?page=2');
    expect(findLink('<?page=3>; rel=next', 'next', base)).toBe('https://api.test/v1/items?page=3');
    expect(findLink('<other>; rel=next', 'next', base)).toBe('https://api.test/v1/other');
  });

  it('keeps only the first rel parameter of a link-value (RFC 8288 §3.3)', () => {
    expect(parseLinkHeader('<https://x.test/a>; rel="prev"; rel="next"')[0]!.rel).toEqual(['prev']);
  });

  it('accepts a repeated header as a list of field lines and skips garbage', () => {
    const links = parseLinkHeader(['garbage, <https://x.test/1>; rel=first', '<https://x.test/2>; rel=next']);
    expect(links.map((l) => l.href)).toEqual(['https://x.test/1', 'https://x.test/2']);
    expect(parseLinkHeader('')).toEqual([]);
    expect(parseLinkHeader('<https://x.test/unterminated; rel=next')).toEqual([]);
  });

  it('round-trips any generated set of links (property)', () => {
    const relType = fc.constantFrom('next', 'prev', 'last', 'first', 'self', 'alternate');
    const link = fc.record({
      path: fc.array(fc.constantFrom('a', 'b', 'c,d', 'e;f', 'x y', '%20'), { minLength: 1, maxLength: 3 }),
      page: fc.nat(1000),
      rels: fc.uniqueArray(relType, { minLength: 1, maxLength: 3 }),
      quoted: fc.boolean(),
      ows: fc.constantFrom('', ' ', '  ', '\t'),
      title: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(link, { minLength: 1, maxLength: 5 }), (links) => {
        const expected = links.map((l) => new URL(`https://h.test/${l.path.join('/')}?page=${l.page}`).href);
        const header = links
          .map((l, i) => {
            const rel = l.rels.length > 1 || l.quoted ? `"${l.rels.join(' ')}"` : l.rels[0];
            const title =
              l.title === undefined
                ? ''
                : `;${l.ows}title="${l.title.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
            return `<${expected[i]}>${l.ows};${l.ows}rel=${rel}${title}`;
          })
          .join(`,${links[0]!.ows}`);
        const parsed = parseLinkHeader(header);
        expect(parsed.map((p) => p.href)).toEqual(expected);
        expect(parsed.map((p) => p.rel)).toEqual(links.map((l) => l.rels));
        expect(parsed.map((p) => p.params.title)).toEqual(links.map((l) => l.title));
      }),
      { numRuns: 300 },
    );
  });
});

describe('firstPageUrl / nextPageUrl', () => {
  const url = 'https://api.test/items?filter=x';

  it('none: one page', () => {
    const p = PaginationSchema.parse({ type: 'none' });
    expect(firstPageUrl(url, p)).toBe(url);
    expect(nextPageUrl(p, { url, pageIndex: 0, recordCount: 100 })).toBeUndefined();
    expect(maxPagesOf(p)).toBe(1);
  });

  it('pageNumber: counts pages from startPage and stops on a short or empty page', () => {
    const p = PaginationSchema.parse({ type: 'pageNumber', sizeParam: 'size', pageSize: 2, startPage: 0 });
    const first = firstPageUrl(url, p);
    expect(first).toBe('https://api.test/items?filter=x&page=0&size=2');
    const second = nextPageUrl(p, { url: first, pageIndex: 0, recordCount: 2 });
    expect(second).toBe('https://api.test/items?filter=x&page=1&size=2');
    expect(nextPageUrl(p, { url: second!, pageIndex: 1, recordCount: 2 })).toBe(
      'https://api.test/items?filter=x&page=2&size=2',
    );
    expect(nextPageUrl(p, { url: second!, pageIndex: 1, recordCount: 1 })).toBeUndefined();
    expect(nextPageUrl(p, { url: second!, pageIndex: 1, recordCount: 0 })).toBeUndefined();
  });

  it('pageNumber without pageSize: continues until an empty page', () => {
    const p = PaginationSchema.parse({ type: 'pageNumber' });
    const first = firstPageUrl(url, p);
    expect(first).toBe('https://api.test/items?filter=x&page=1');
    expect(nextPageUrl(p, { url: first, pageIndex: 0, recordCount: 1 })).toBe(
      'https://api.test/items?filter=x&page=2',
    );
    expect(nextPageUrl(p, { url: first, pageIndex: 0, recordCount: 0 })).toBeUndefined();
  });

  it('offsetLimit: advances the offset by limit and stops on a short page', () => {
    const p = PaginationSchema.parse({
      type: 'offsetLimit',
      limit: 50,
      offsetParam: 'skip',
      limitParam: 'take',
    });
    const first = firstPageUrl(url, p);
    expect(first).toBe('https://api.test/items?filter=x&skip=0&take=50');
    const second = nextPageUrl(p, { url: first, pageIndex: 0, recordCount: 50 });
    expect(second).toBe('https://api.test/items?filter=x&skip=50&take=50');
    expect(nextPageUrl(p, { url: second!, pageIndex: 1, recordCount: 50 })).toBe(
      'https://api.test/items?filter=x&skip=100&take=50',
    );
    expect(nextPageUrl(p, { url: second!, pageIndex: 1, recordCount: 49 })).toBeUndefined();
  });

  it('linkHeader: the rel=next target, resolved against the page URL', () => {
    const p = PaginationSchema.parse({ type: 'linkHeader', maxPages: 7 });
    expect(firstPageUrl(url, p)).toBe(url);
    expect(maxPagesOf(p)).toBe(7);
    expect(
      nextPageUrl(p, { url, pageIndex: 0, recordCount: 3, link: '</items?cursor=abc>; rel="next"' }),
    ).toBe('https://api.test/items?cursor=abc');
    expect(
      nextPageUrl(p, { url, pageIndex: 0, recordCount: 3, link: '</items?p=1>; rel="prev"' }),
    ).toBeUndefined();
    expect(nextPageUrl(p, { url, pageIndex: 0, recordCount: 3 })).toBeUndefined();
  });
});
