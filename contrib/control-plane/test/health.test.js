// Health reports (SPEC "Health reports", issue 11): a node reports for itself; the
// admin filters on status and scrapes /metrics.
'use strict';

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const { Stack, request } = require('./helper');

let s;
before(async () => {
	s = await Stack.open();
});
after(async () => {
	await s?.close();
});

const report = (token, id, body, n = 1) => request(s.url(n), 'POST', `/api/v1/nodes/${id}/health`, { token, body });

test('a node reports its own health; status and last_seen are kept, filtered on and scraped', async () => {
	const et = await s.enrollmentToken({ max_uses: 3 });
	const nodes = [];
	for (let i = 0; i < 3; i++) nodes.push((await s.enroll(et.token, { hostname: `h${i}` })).body);
	const before = Date.now();
	const ra = await report(nodes[0].node_token, nodes[0].node_id,
		{ status: 'healthy', connected: true, can_ping_hub: true, handshake_age: 3, node_id: nodes[0].node_id });
	assert.equal(ra.status, 200);
	assert.equal(ra.body.status, 'healthy');
	assert.ok(Math.abs(Date.parse(ra.body.last_seen) - before) < 60000);
	assert.equal((await report(nodes[1].node_token, nodes[1].node_id, { status: 'degraded' }, 2)).status, 200);
	// Another node's id with one's own token: 403, nothing recorded.
	const r403 = await report(nodes[2].node_token, nodes[0].node_id, { status: 'unhealthy' });
	assert.equal(r403.status, 403);
	// Bad reports: 400 / 422 naming the field.
	const bad = await report(nodes[2].node_token, nodes[2].node_id, { status: 'fine' });
	assert.equal(bad.status, 422);
	assert.match(bad.body.error, /^status `fine' is not one of/);
	assert.equal((await report(nodes[2].node_token, nodes[2].node_id, { connected: true })).status, 400);
	assert.equal((await report(nodes[2].node_token, nodes[2].node_id, [1])).status, 400);

	const list = async (status) => {
		const r = await request(s.url(), 'GET', `/api/v1/nodes?status=${status}&limit=10000`, { token: s.admin });
		assert.equal(r.status, 200);
		return r.body.nodes;
	};
	const healthy = await list('healthy');
	const mine = healthy.find((n) => n.node_id === nodes[0].node_id);
	assert.ok(mine);
	assert.equal(mine.status, 'healthy');
	assert.equal(mine.last_seen, ra.body.last_seen);
	assert.ok(healthy.every((n) => n.status === 'healthy'));
	assert.ok((await list('degraded')).some((n) => n.node_id === nodes[1].node_id));
	const unknown = await list('unknown');
	assert.ok(unknown.some((n) => n.node_id === nodes[2].node_id));
	assert.ok(unknown.every((n) => (n.status === null && n.last_seen === null) || n.status === 'unknown'));

	const m = await request(s.url(2), 'GET', '/metrics', { token: s.admin });
	assert.equal(m.status, 200);
	assert.match(m.headers.get('content-type'), /^text\/plain/);
	const counts = (await s.sql(`SELECT coalesce(status, 'unknown') AS s, count(*)::int AS n FROM nodes
		WHERE NOT deleted GROUP BY 1`)).rows;
	const want = { healthy: 0, degraded: 0, unhealthy: 0, disconnected: 0, unknown: 0 };
	for (const r of counts) want[r.s] = r.n;
	for (const [st, n] of Object.entries(want))
		assert.match(m.body, new RegExp(`^wgn_fleet_nodes\\{status="${st}"\\} ${n}$`, 'm'));
	assert.match(m.body, /^# TYPE wgn_fleet_nodes gauge$/m);
	const line = m.body.split('\n').find((l) => l.startsWith(`wgn_fleet_last_seen_seconds{node_id="${nodes[0].node_id}"}`));
	assert.ok(line, 'a last_seen line for the node that reported');
	assert.ok(Math.abs(Number(line.split(' ')[1]) * 1000 - Date.parse(ra.body.last_seen)) < 2);
	assert.ok(!m.body.includes(nodes[2].node_id), 'a node that never reported has no last_seen');
	// Other tokens may not scrape.
	for (const t of [s.shared, nodes[0].node_token, et.token])
		assert.equal((await request(s.url(), 'GET', '/metrics', { token: t })).status, 403);
	assert.equal((await request(s.url(), 'GET', '/metrics')).status, 401);
});

test('a node whose check could not run reports unknown: kept, listed and counted as unknown', async () => {
	const e = (await s.enroll((await s.enrollmentToken()).token)).body;
	const r = await report(e.node_token, e.node_id, { status: 'unknown', reason: 'reading wg0 needs CAP_NET_ADMIN' });
	assert.equal(r.status, 200);
	assert.equal(r.body.status, 'unknown');
	assert.ok(r.body.last_seen);
	const l = await request(s.url(), 'GET', '/api/v1/nodes?status=unknown&limit=10000', { token: s.admin });
	const mine = l.body.nodes.find((n) => n.node_id === e.node_id);
	assert.ok(mine, 'listed with status=unknown');
	assert.equal(mine.status, 'unknown');
	assert.equal(mine.last_seen, r.body.last_seen);
	assert.ok(!(await request(s.url(), 'GET', '/api/v1/nodes?status=healthy&limit=10000', { token: s.admin }))
		.body.nodes.some((n) => n.node_id === e.node_id));
	const m = await request(s.url(), 'GET', '/metrics', { token: s.admin });
	const n = Number((await s.sql(`SELECT count(*)::int AS n FROM nodes
		WHERE NOT deleted AND (status IS NULL OR status = 'unknown')`)).rows[0].n);
	assert.match(m.body, new RegExp(`^wgn_fleet_nodes\\{status="unknown"\\} ${n}$`, 'm'));
	assert.match(m.body, new RegExp(`^wgn_fleet_last_seen_seconds\\{node_id="${e.node_id}"\\} `, 'm'));
});

test('a deleted node cannot report', async () => {
	const e = (await s.enroll((await s.enrollmentToken()).token)).body;
	assert.equal((await request(s.url(), 'DELETE', `/api/v1/nodes/${e.node_id}`, { token: s.admin })).status, 204);
	assert.equal((await report(e.node_token, e.node_id, { status: 'healthy' })).status, 401);
});

test('a report that jsonb cannot hold is 400 naming the value, not a 500', async () => {
	const e = (await s.enroll((await s.enrollmentToken()).token)).body;
	const r = await request(s.url(), 'POST', `/api/v1/nodes/${e.node_id}/health`, {
		token: e.node_token, raw: '{"status":"healthy","hubs":[{"endpoint":"a\\u0000b"}]}' });
	assert.equal(r.status, 400);
	assert.match(r.body.error, /^report\.hubs\.0\.endpoint contains a NUL character/);
	const r2 = await request(s.url(), 'POST', `/api/v1/nodes/${e.node_id}/health`, {
		token: e.node_token, raw: '{"status":"healthy","x":"\\ud800"}' });
	assert.equal(r2.status, 400);
	assert.match(r2.body.error, /^report\.x is not valid Unicode/);
	const r3 = await s.register(s.shared, { hostname: 'h\ud800' });
	assert.equal(r3.status, 400);
	assert.match(r3.body.error, /^hostname is not valid Unicode/);
});
