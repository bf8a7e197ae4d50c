// The end-to-end benchmark's upstream: a paginated JSON API in its own process, serving `total`
// realistic ~1 KB records, `pageSize` per page (`GET /items?page=N`, first page 1; a short page
// ends the listing). Records are pre-generated once as 1,000 templates with an id slot, so a page
// costs one string join: the server stays cheap and is never the bottleneck.
// Started by bench/pipeline-e2e.ts with fork(); reports its port and its first request over IPC.
import { createServer } from 'node:http';

const total = Number(process.argv[2] ?? 100_000);
const pageSize = Number(process.argv[3] ?? 100);
const TEMPLATES = 1000;
const SLOT = '__ID_SLOT__';

const words =
  'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu'.split(
    ' ',
  );
let seed = 42;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const pick = (a) => a[Math.floor(rnd() * a.length)];
const text = (n) => Array.from({ length: n }, () => pick(words)).join(' ');
const base = Date.UTC(2026, 0, 1);

/** One template split around its id slots: parts[0] + id + parts[1] + id + parts[2]. */
const templates = Array.from({ length: TEMPLATES }, (_, t) => {
  const record = {
    id: SLOT,
    sku: `SKU-${SLOT}`,
    name: text(4),
    description: text(55),
    price: Math.round(rnd() * 100_000) / 100,
    currency: pick(['EUR', 'USD', 'GBP']),
    quantity: Math.floor(rnd() * 500),
    active: rnd() > 0.2,
    tags: Array.from({ length: 5 }, () => pick(words)),
    dimensions: {
      widthCm: Math.round(rnd() * 1000) / 10,
      heightCm: Math.round(rnd() * 1000) / 10,
      weightKg: Math.round(rnd() * 10_000) / 1000,
    },
    seller: {
      id: 1000 + (t % 97),
      name: text(2),
      rating: Math.round(rnd() * 50) / 10,
      address: {
        street: `${Math.floor(rnd() * 999)} ${text(2)} street`,
        city: pick(words),
        country: pick(['DE', 'FR', 'US', 'GB', 'NL']),
        zip: String(10000 + Math.floor(rnd() * 89999)),
      },
    },
    variants: Array.from({ length: 3 }, (_, i) => ({
      sku: `V${i}-${t}`,
      color: pick(words),
      size: pick(['S', 'M', 'L', 'XL']),
      stock: Math.floor(rnd() * 100),
    })),
    created_at: new Date(base - Math.floor(rnd() * 1e10)).toISOString(),
    updated_at: new Date(base + t * 1000).toISOString(),
  };
  return JSON.stringify(record).replace(`"${SLOT}"`, SLOT).split(SLOT);
});

function page(n) {
  const first = (n - 1) * pageSize;
  const last = Math.min(total, first + pageSize);
  const out = [];
  for (let id = first + 1; id <= last; id++) {
    const parts = templates[id % TEMPLATES];
    let s = parts[0];
    for (let i = 1; i < parts.length; i++) s += id + parts[i];
    out.push(s);
  }
  return `[${out.join(',')}]`;
}

let requests = 0;
const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname !== '/items') {
    res.writeHead(404).end();
    return;
  }
  if (requests++ === 0) process.send?.({ type: 'first', at: Date.now() });
  const body = page(Math.max(1, Number(url.searchParams.get('page') ?? 1)));
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({
    type: 'listening',
    port: server.address().port,
    recordBytes: Buffer.byteLength(page(1)) / Math.min(pageSize, total),
  });
});
process.on('message', (m) => {
  if (m?.type === 'requests') process.send?.({ type: 'requests', requests });
});
process.on('disconnect', () => process.exit(0));
