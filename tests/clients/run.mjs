// Client conformance: the tools a frontend team and a partner reach for first, run against a live
// Mercato that tests/clients.rs started and seeded. Each check fails loudly; the process exits
// non-zero on the first failure.
//
// Environment (set by tests/clients.rs):
//   MERCATO_URL        http://127.0.0.1:PORT
//   MERCATO_TOKEN      an owner's access token
//   MERCATO_PRODUCTS   how many products the organization has
//   MERCATO_VARIANT    a variant with stock at MERCATO_LOCATION (available MERCATO_AVAILABLE,
//                      reorder point MERCATO_REORDER)
//   MERCATO_LOCATION, MERCATO_AVAILABLE, MERCATO_REORDER
//   MERCATO_PAGE_PORT  a free port for a page on another origin (allowed by the server's CORS list)
//   MERCATO_DENIED_PORT a free port for a page on an origin the server does not allow
//   CHROMIUM           the browser (default /usr/bin/chromium)

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run this through tests/clients.rs)`);
  return v;
};
const BASE = env('MERCATO_URL');
const URL_ = `${BASE}/graphql`;
const WS_URL = URL_.replace(/^http/, 'ws') + '/ws';
const TOKEN = env('MERCATO_TOKEN');
const AUTH = `Bearer ${TOKEN}`;
const PRODUCTS = Number(env('MERCATO_PRODUCTS'));
const operations = readFileSync(join(here, 'operations.graphql'), 'utf8');
const doc = (name) => {
  // One operation of operations.graphql, by name.
  const blocks = operations.split(/\n(?=query |mutation |subscription )/);
  const b = blocks.find((x) => new RegExp(`^(query|mutation|subscription) ${name}\\b`).test(x.trim()));
  assert.ok(b, `operation ${name}`);
  return b.trim();
};

const results = [];
async function check(name, f) {
  const started = Date.now();
  try {
    await f();
    results.push(name);
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    console.log(`not ok - ${name}`);
    console.log(e && e.stack ? e.stack : e);
    process.exit(1);
  }
}

// 1. graphql-codegen against the live URL (introspection over HTTP), then tsc --strict.
await check('graphql-codegen loads the schema from the server and its types compile under tsc --strict', async () => {
  const { generate } = await import('@graphql-codegen/cli');
  mkdirSync(join(here, 'generated'), { recursive: true });
  await generate(
    {
      schema: { [URL_]: { headers: { Authorization: AUTH } } },
      documents: join(here, 'operations.graphql'),
      generates: {
        [join(here, 'generated/types.ts')]: {
          plugins: ['typescript', 'typescript-operations'],
          config: { enumsAsTypes: true, avoidOptionals: false },
        },
      },
      silent: true,
    },
    true,
  );
  const types = readFileSync(join(here, 'generated/types.ts'), 'utf8');
  assert.match(types, /export type ProductStatus =/);
  assert.match(types, /export type SyncRunStatus =/);
  execFileSync(process.execPath, [join(here, 'node_modules/typescript/bin/tsc'), '-p', join(here, 'tsconfig.json')], {
    stdio: 'inherit',
  });
});

// 2. urql with its defaults: queries go as GET when they fit in a URL.
await check('urql (default exchanges, GET for queries) pages through every product', async () => {
  const { Client, cacheExchange, fetchExchange } = await import('@urql/core');
  const methods = [];
  const client = new Client({
    url: URL_,
    exchanges: [cacheExchange, fetchExchange],
    fetchOptions: { headers: { Authorization: AUTH } },
    fetch: (url, opts) => {
      methods.push(opts.method);
      return fetch(url, opts);
    },
  });
  const seen = [];
  let after = null;
  for (let pages = 0; pages < 100; pages++) {
    const r = await client.query(doc('ProductPage'), { first: 2, after }).toPromise();
    assert.equal(r.error, undefined, String(r.error));
    const p = r.data.products;
    assert.equal(p.totalCount, PRODUCTS);
    seen.push(...p.edges.map((e) => e.node.id));
    if (!p.pageInfo.hasNextPage) break;
    after = p.pageInfo.endCursor;
  }
  assert.equal(new Set(seen).size, PRODUCTS);
  assert.ok(methods.length > 1 && methods.every((m) => m === 'GET'), `methods: ${methods}`);
  // The product screen: 50 with variants, prices and stock, in one request under the default
  // cost limit (requested 552 of 1,000).
  const page = await client.query(doc('ProductPage'), { first: 50 }, { requestPolicy: 'network-only' }).toPromise();
  assert.equal(page.error, undefined, String(page.error));
  assert.equal(page.data.products.edges.length, PRODUCTS);
});

// 3. Apollo Client: persisted queries (hash first, then the query on PERSISTED_QUERY_NOT_FOUND),
//    relay-style pagination merging pages in the cache.
await check('Apollo Client (persisted queries link, relayStylePagination) merges every page', async () => {
  const apollo = await import('@apollo/client/core/index.js');
  const { createPersistedQueryLink } = await import('@apollo/client/link/persisted-queries/index.js');
  const { relayStylePagination } = await import('@apollo/client/utilities/index.js');
  const { ApolloClient, InMemoryCache, HttpLink, from, gql } = apollo;
  const bodies = [];
  const link = from([
    createPersistedQueryLink({ sha256: (q) => createHash('sha256').update(q).digest('hex') }),
    new HttpLink({
      uri: URL_,
      headers: { Authorization: AUTH },
      fetch: (url, opts) => {
        bodies.push(JSON.parse(opts.body));
        return fetch(url, opts);
      },
    }),
  ]);
  const client = new ApolloClient({
    link,
    cache: new InMemoryCache({ typePolicies: { Query: { fields: { products: relayStylePagination() } } } }),
  });
  const query = gql(doc('ProductPage'));
  const watched = client.watchQuery({ query, variables: { first: 3 } });
  let r = await watched.result();
  // The first request carried only the hash; the server asked for the query; the link sent it.
  assert.equal(bodies[0].query, undefined, 'hash only first');
  assert.ok(bodies[1].query, 'then the query');
  for (let pages = 0; r.data.products.pageInfo.hasNextPage && pages < 100; pages++) {
    await watched.fetchMore({ variables: { after: r.data.products.pageInfo.endCursor } });
    r = watched.getCurrentResult();
  }
  const merged = r.data.products.edges.map((e) => e.node.id);
  assert.equal(new Set(merged).size, PRODUCTS, 'every page merged into one list');
  // A second client with the same link: the hash alone is enough now.
  const before = bodies.length;
  const again = new ApolloClient({
    link,
    cache: new InMemoryCache({ typePolicies: { Query: { fields: { products: relayStylePagination() } } } }),
  });
  await again.query({ query, variables: { first: 3 } });
  assert.equal(bodies.length, before + 1);
  assert.equal(bodies[before].query, undefined, 'the server remembered the query');
});

// 4. graphql-ws: sync progress to the end (the subscription completes), and inventory alerts.
await check('graphql-ws follows a sync run to its end and receives an inventory alert', async () => {
  const { createClient } = await import('graphql-ws');
  const { default: WebSocket } = await import('ws');
  const ws = createClient({ url: WS_URL, webSocketImpl: WebSocket, connectionParams: { authorization: AUTH } });
  const post = async (query, variables) => {
    const r = await fetch(URL_, {
      method: 'POST',
      headers: { 'content-type': 'application/json', Authorization: AUTH },
      body: JSON.stringify({ query, variables }),
    });
    const body = await r.json();
    assert.equal(body.errors, undefined, JSON.stringify(body));
    return body.data;
  };
  // Alerts: subscribe, then take the level below its reorder point.
  const alerts = [];
  const alertsDone = new Promise((resolve, reject) => {
    const stop = ws.subscribe(
      { query: doc('Alerts') },
      {
        next: (m) => {
          if (m.errors) return reject(new Error(JSON.stringify(m.errors)));
          alerts.push(m.data.inventoryAlerts);
          if (m.data.inventoryAlerts.state === 'OPEN') {
            stop();
            resolve();
          }
        },
        error: reject,
        complete: () => {},
      },
    );
  });
  // Give the subscription a moment to be registered before the change (the server sends open
  // alerts first, so a late start still sees the alert).
  const available = Number(env('MERCATO_AVAILABLE'));
  const reorder = Number(env('MERCATO_REORDER'));
  const adjusted = await post(doc('Adjust'), {
    input: {
      variantId: env('MERCATO_VARIANT'),
      locationId: env('MERCATO_LOCATION'),
      kind: 'ADJUST',
      quantity: reorder - available,
      reason: 'conformance: low stock',
    },
  });
  assert.equal(adjusted.adjustStock.userErrors.length, 0, JSON.stringify(adjusted));
  await withTimeout(alertsDone, 20000, 'inventory alert');
  const open = alerts.find((a) => a.state === 'OPEN');
  assert.equal(open.kind, 'LOW_STOCK');
  assert.ok(Buffer.from(open.id, 'base64url').toString().startsWith('InventoryAlert:'), open.id);

  // Sync progress: a catalog import run by the worker, followed to its end.
  const started = await post(doc('StartImport'), {
    input: {
      rows: [{ productName: 'Conformance', sku: `CONF-${Date.now()}`, prices: [{ amount: '1.00', currencyCode: 'USD' }] }],
    },
  });
  assert.equal(started.startCatalogImport.userErrors.length, 0, JSON.stringify(started));
  const run = started.startCatalogImport.syncRun.id;
  const events = [];
  await withTimeout(
    new Promise((resolve, reject) => {
      ws.subscribe(
        { query: doc('RunProgress'), variables: { id: run } },
        {
          next: (m) => (m.errors ? reject(new Error(JSON.stringify(m.errors))) : events.push(m.data.syncRunUpdated)),
          error: reject,
          complete: resolve, // the server ends it after the final state
        },
      );
    }),
    60000,
    'sync run to complete',
  );
  assert.equal(events.at(-1).status, 'SUCCEEDED', JSON.stringify(events));
  const versions = events.map((e) => e.version);
  assert.deepEqual(versions, [...versions].sort((a, b) => a - b), 'in order');
  await ws.dispose();
});

// 5. A browser app on another origin (CORS), and one on an origin the server does not allow.
async function servePage(port) {
  const html = `<!doctype html><script>
    window.result = (async () => {
      const headers = { 'content-type': 'application/json', Authorization: ${JSON.stringify(AUTH)} };
      const post = await fetch(${JSON.stringify(URL_)}, { method: 'POST', headers, body: JSON.stringify({ query: '{ viewer { user { id } } }' }) });
      const get = await fetch(${JSON.stringify(URL_)} + '?query=' + encodeURIComponent('{ organization { name } }'), { headers: { Authorization: ${JSON.stringify(AUTH)} } });
      return { post: await post.json(), get: await get.json(), requestId: post.headers.get('x-request-id') };
    })().catch((e) => ({ failed: String(e) }));
  </script>`;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(html);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return server;
}

function withTimeout(p, ms, what) {
  return Promise.race([
    p,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)),
  ]);
}

const { chromium } = await import('playwright-core');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

await check('a browser app on an allowed origin can query (CORS preflight, POST and GET); others cannot', async () => {
  const allowed = await servePage(Number(env('MERCATO_PAGE_PORT')));
  const denied = await servePage(Number(env('MERCATO_DENIED_PORT')));
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${env('MERCATO_PAGE_PORT')}/`);
    const ok = await page.evaluate(() => window.result);
    assert.equal(ok.failed, undefined, JSON.stringify(ok));
    assert.ok(ok.post.data.viewer.user.id, JSON.stringify(ok));
    assert.ok(ok.get.data.organization.name, JSON.stringify(ok));
    assert.ok(ok.requestId, 'x-request-id is exposed');
    const other = await browser.newPage();
    await other.goto(`http://127.0.0.1:${env('MERCATO_DENIED_PORT')}/`);
    const refused = await other.evaluate(() => window.result);
    assert.match(refused.failed ?? '', /Failed to fetch/, JSON.stringify(refused));
  } finally {
    allowed.close();
    denied.close();
  }
});

// 6. GraphiQL from the binary: loads offline, the Docs pane reads the schema, a query runs with the
//    remembered Authorization header, and a subscription streams over /graphql/ws.
await check('GraphiQL loads from the binary alone, runs a query and a subscription', async () => {
  const context = await browser.newContext();
  const foreign = [];
  context.on('request', (req) => {
    if (!req.url().startsWith(BASE)) foreign.push(req.url());
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  await page.addInitScript((auth) => {
    localStorage.setItem('graphiql:headers', JSON.stringify({ Authorization: auth }));
  }, AUTH);
  await page.goto(URL_, { waitUntil: 'load' });
  await page.waitForSelector('.graphiql-container', { timeout: 30000 });

  // Docs pane: needs the introspection query to pass the depth limit.
  await page.click('[aria-label="Show Documentation Explorer"]');
  await page.waitForSelector('.graphiql-doc-explorer', { timeout: 15000 });
  await page.waitForFunction(() => document.querySelector('.graphiql-doc-explorer')?.textContent.includes('Query'), null, {
    timeout: 15000,
  });

  const run = async (query, until) => {
    await page.evaluate((q) => {
      document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q);
    }, query);
    await page.click('.graphiql-execute-button');
    const result = () =>
      page.evaluate(() => document.querySelector('.result-window .CodeMirror')?.CodeMirror.getValue());
    try {
      await page.waitForFunction(
        (needle) => {
          const cm = document.querySelector('.result-window .CodeMirror');
          return cm && cm.CodeMirror.getValue().includes(needle);
        },
        until,
        { timeout: 20000 },
      );
    } catch (e) {
      throw new Error(`no ${until} in the result: ${await result()}; console: ${consoleLines.join(' | ')}`);
    }
    return result();
  };
  const q = await run('{ viewer { user { email } } products(first: 1) { totalCount } }', '"totalCount"');
  // The seeded products and the one the graphql-ws check imported.
  assert.ok(q.includes(`"totalCount": ${PRODUCTS + 1}`), q);
  const sub = await run('subscription { heartbeat(intervalSeconds: 1) { seq } }', '"seq": 2');
  assert.ok(sub.includes('"heartbeat"'), sub);
  // Stop the subscription.
  await page.click('.graphiql-execute-button');
  assert.deepEqual(errors, []);
  assert.deepEqual(foreign, [], 'every request stays on the server');
  await context.close();
});

await browser.close();
console.log(`\n${results.length} checks passed`);
process.exit(0);
