// The change feed (SPEC "Control plane roles and API", issue 10): revisions from one
// sequence, since/limit/more, tombstones, long polls woken across instances.
'use strict';

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const { Stack, request, wgKey } = require('./helper');

let s, hubToken;
before(async () => {
	s = await Stack.open();
	hubToken = (await s.hub({ tunnel_address: '10.0.220.1' })).hub_token;
});
after(async () => {
	await s?.close();
});

const feed = (q, { n = 1, token = hubToken } = {}) => request(s.url(n), 'GET', `/api/v1/nodes?${q}`, { token });

// The newest revision: what a page without more says.
async function head() {
	const h = await feed('since=999999999999999');
	assert.equal(h.status, 200);
	assert.deepEqual(h.body.nodes, []);
	return h.body.revision;
}

test('since, limit and more page through every change in revision order', async () => {
	const start = await head();
	const et = await s.enrollmentToken({ max_uses: 7 });
	const made = [];
	for (let i = 0; i < 7; i++) made.push((await s.enroll(et.token, { hostname: `f${i}` })).body);
	const seen = [];
	let since = start;
	for (let page = 0; ; page++) {
		assert.ok(page < 10, 'too many pages');
		const r = await feed(`since=${since}&limit=3`);
		assert.equal(r.status, 200);
		assert.ok(r.body.nodes.length <= 3);
		for (const n of r.body.nodes) {
			assert.ok(n.revision > since);
			seen.push(n);
		}
		assert.equal(r.body.revision, r.body.more ? r.body.nodes.at(-1).revision : await head());
		since = r.body.revision;
		if (!r.body.more) break;
	}
	assert.deepEqual(seen.map((n) => n.node_id), made.map((m) => m.node_id));
	const revs = seen.map((n) => n.revision);
	assert.deepEqual(revs, [...revs].sort((a, b) => a - b));
	assert.equal(new Set(revs).size, revs.length);
	for (const [i, n] of seen.entries()) {
		assert.equal(n.deleted, false);
		assert.deepEqual(n.wireguard_address, made[i].wireguard_address);
		assert.match(n.wireguard_public_key, /^[A-Za-z0-9+/]{43}=$/);
	}
	// Nothing new: an empty page at the same revision.
	const r = await feed(`since=${since}`);
	assert.deepEqual(r.body, { revision: since, more: false, nodes: [] });
});

test('a key change and an address change are changes; a hostname change is not', async () => {
	const et = await s.enrollmentToken();
	const key = wgKey();
	const e = (await s.enroll(et.token, { wireguard_public_key: key })).body;
	const r0 = await head();
	const addr = e.wireguard_address;
	await s.register(e.node_token, { wireguard_public_key: key, wireguard_address: addr, hostname: 'renamed' });
	assert.equal(await head(), r0);
	const key2 = wgKey();
	await s.register(e.node_token, { wireguard_public_key: key2, wireguard_address: addr, previous_public_key: key });
	let r = await feed(`since=${r0}`);
	assert.deepEqual(r.body.nodes.map((n) => [n.node_id, n.wireguard_public_key]), [[e.node_id, key2]]);
	await s.register(e.node_token, { wireguard_public_key: key2, wireguard_address: [...addr, '172.16.9.9/32'] });
	r = await feed(`since=${r.body.revision}`);
	assert.deepEqual(r.body.nodes.map((n) => n.wireguard_address), [[...addr, '172.16.9.9/32']]);
});

test('a deleted node is a tombstone after its revision, and gone from since=0', async () => {
	const et = await s.enrollmentToken();
	const e = (await s.enroll(et.token)).body;
	const r0 = await head();
	const del = await request(s.url(2), 'DELETE', `/api/v1/nodes/${e.node_id}`, { token: s.admin });
	assert.equal(del.status, 204);
	assert.equal((await request(s.url(), 'DELETE', `/api/v1/nodes/${e.node_id}`, { token: s.admin })).status, 404);
	const r = await feed(`since=${r0}`);
	assert.equal(r.body.nodes.length, 1);
	const t = r.body.nodes[0];
	assert.equal(t.node_id, e.node_id);
	assert.equal(t.deleted, true);
	assert.ok(t.revision > r0);
	assert.deepEqual(t.wireguard_address, e.wireguard_address);
	// since=0 lists live nodes only.
	let all = [];
	let since = 0;
	for (;;) {
		const p = await feed(`since=${since}&limit=10000`);
		all = all.concat(p.body.nodes);
		since = p.body.revision;
		if (!p.body.more) break;
	}
	assert.ok(!all.some((n) => n.node_id === e.node_id));
	assert.ok(all.every((n) => n.deleted === false));
	// Its token is dead, its record gone from the admin's view.
	assert.equal((await s.register(e.node_token, {})).status, 401);
	assert.equal((await request(s.url(), 'GET', `/api/v1/nodes/${e.node_id}`, { token: s.admin })).status, 404);
});

test('a long poll on one instance wakes on a change made through the other', async () => {
	const r0 = await head();
	const t0 = Date.now();
	const waiting = feed(`since=${r0}&wait=30`, { n: 1 });
	const waiting2 = feed(`since=${r0}&wait=30`, { n: 2 });
	await new Promise((r) => setTimeout(r, 500));
	const et = await s.enrollmentToken();
	const tChange = Date.now();
	const e = (await s.enroll(et.token, {}, { n: 2 })).body;
	const [w1, w2] = await Promise.all([waiting, waiting2]);
	const ms = Date.now() - tChange;
	for (const w of [w1, w2]) {
		assert.equal(w.status, 200);
		assert.deepEqual(w.body.nodes.map((n) => n.node_id), [e.node_id]);
	}
	assert.ok(Date.now() - t0 < 10000, 'the waits ended on the change, not the timeout');
	console.log(`# long polls on both instances answered ${ms} ms after the enrollment was sent`);
});

test('a long poll with nothing new answers empty when the time is up, and holds no connection', async () => {
	const r0 = await head();
	const conns = async () => Number((await s.sql(
		"SELECT count(*) FROM pg_stat_activity WHERE datname = 'wgn_cp' AND state = 'active' AND pid <> pg_backend_pid()")).rows[0].count);
	const base = await conns();
	const t0 = Date.now();
	const polls = Array.from({ length: 50 }, (_, i) => feed(`since=${r0}&wait=2`, { n: 1 + (i % 2) }));
	await new Promise((r) => setTimeout(r, 1000));
	const during = await conns();
	const rs = await Promise.all(polls);
	const ms = Date.now() - t0;
	for (const r of rs) assert.deepEqual(r.body, { revision: r0, more: false, nodes: [] });
	assert.ok(ms >= 1900 && ms < 6000, `${ms} ms`);
	assert.ok(during <= base, `active connections ${base} before, ${during} while 50 polls wait`);
});

test('plain listing pages by cursor and filters on status; bad parameters are 400', async () => {
	const ids = [];
	let cursor = null;
	for (let page = 0; ; page++) {
		assert.ok(page < 1000);
		const r = await request(s.url(), 'GET', `/api/v1/nodes?limit=7${cursor ? `&cursor=${cursor}` : ''}`, { token: s.admin });
		assert.equal(r.status, 200);
		assert.ok(r.body.nodes.length <= 7);
		ids.push(...r.body.nodes.map((n) => n.node_id));
		cursor = r.body.next_cursor;
		if (!cursor) break;
	}
	const live = (await s.sql('SELECT node_id FROM nodes WHERE NOT deleted ORDER BY node_id')).rows.map((r) => r.node_id);
	assert.deepEqual(ids, live);
	for (const q of ['limit=0', 'limit=10001', 'since=-1', 'since=x', 'wait=61', 'status=bogus', 'cursor=nope'])
		assert.equal((await request(s.url(), 'GET', `/api/v1/nodes?${q}`, { token: s.admin })).status, 400, q);
	// What the feed and the listing filter on is indexed.
	const idx = (await s.sql("SELECT indexdef FROM pg_indexes WHERE tablename = 'nodes'")).rows.map((r) => r.indexdef).join('\n');
	assert.match(idx, /nodes_revision ON public.nodes USING btree \(revision\)/);
	assert.match(idx, /nodes_status ON public.nodes USING btree \(status, node_id\) WHERE \(NOT deleted\)/);
	assert.match(idx, /nodes_token_hash ON public.nodes USING btree \(token_hash\)/);
});

test('500 long polls on one instance: one change reaches all of them', async () => {
	const r0 = await head();
	// In batches of 100: 500 at the same instant would meet WGN_CP_MAX_IN_FLIGHT (128)
	// with their first query, and get 503 + Retry-After.
	const polls = [];
	for (let b = 0; b < 5; b++) {
		for (let i = 0; i < 100; i++) polls.push(feed(`since=${r0}&wait=30`, { n: 1 }));
		await new Promise((r) => setTimeout(r, 400));
	}
	for (let i = 0; (await request(s.url(1), 'GET', '/healthz')).body.waiting < 500; i++) {
		assert.ok(i < 200, 'the 500 polls never all waited');
		await new Promise((r) => setTimeout(r, 100));
	}
	const queries = async () => (await request(s.url(1), 'GET', '/healthz')).body.feed_queries;
	const before = await queries();
	const t0 = Date.now();
	const e = (await s.enroll((await s.enrollmentToken()).token, {}, { n: 2 })).body;
	const rs = await Promise.all(polls);
	const ms = Date.now() - t0;
	for (const r of rs) {
		assert.equal(r.status, 200, JSON.stringify(r.body));
		assert.deepEqual(r.body.nodes.map((n) => n.node_id), [e.node_id]);
	}
	const after = await queries();
	console.log(`# 500 long polls answered ${ms} ms after the enrollment was sent; ${after - before} feed queries`);
	// One query per woken poll would be 500; woken together, they share one.
	assert.ok(after - before <= 5, `${after - before} feed queries for 500 woken polls`);
});

test('a reader following the feed during concurrent changes on both instances misses none', async () => {
	const start = await head();
	let stop = false;
	const seen = new Map();
	const reader = (async () => {
		let since = start;
		for (;;) {
			const last = stop;
			const r = await feed(`since=${since}&limit=50`, { n: 2 });
			assert.equal(r.status, 200);
			for (const n of r.body.nodes) seen.set(n.node_id, n.revision);
			since = r.body.revision;
			if (last && !r.body.more) return;
		}
	})();
	const writers = Array.from({ length: 16 }, async (_, i) => {
		for (let j = 0; j < 10; j++) {
			const r = await s.register(s.shared, { wireguard_address: [`172.16.60.${i * 10 + j}/32`] }, { n: 1 + (i % 2) });
			assert.ok([200, 201, 503].includes(r.status), JSON.stringify(r.body));
		}
	});
	await Promise.all(writers);
	stop = true;
	await reader;
	const all = (await s.sql('SELECT node_id, revision FROM nodes WHERE revision > $1', [start])).rows;
	const missed = all.filter((r) => seen.get(r.node_id) !== Number(r.revision));
	assert.deepEqual(missed, [], `${missed.length} of ${all.length} changes never seen by the reader`);
	assert.ok(all.length >= 100);
});
