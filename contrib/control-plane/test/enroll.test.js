// Enrollment (SPEC "Enrollment"): idempotent by the DBOS workflow ID, one use of the
// token, addresses from the pools, conflict-free across two app instances.
'use strict';

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const { Stack, wgKey, randomKey } = require('./helper');

let s;
before(async () => {
	s = await Stack.open();
});
after(async () => {
	await s?.close();
});

test('the same request retried, on either instance, is the same node, address and token, one use', async () => {
	const hub = await s.hub({ tunnel_address: '10.0.210.1', priority: 1, endpoint: 'hub2.example.com:51820' });
	const et = await s.enrollmentToken({ max_uses: 3 });
	const key = randomKey();
	const body = { hostname: 'web1', wireguard_public_key: wgKey(), labels: { role: 'web' }, wgn_version: '0.3.0' };
	const a = await s.enroll(et.token, body, { key });
	assert.equal(a.status, 201);
	assert.match(a.body.node_id, /^[0-9a-f-]{36}$/);
	assert.match(a.body.node_token, /^wgnn_[A-Za-z0-9_-]{43}$/);
	assert.equal(a.body.wireguard_address.length, 2);
	assert.match(a.body.wireguard_address[0], /^10\.0\.\d+\.\d+\/16$/);
	assert.match(a.body.wireguard_address[1], /^fd00::[0-9a-f:]+\/64$/);
	const h = a.body.hubs.find((x) => x.public_key === hub.public_key);
	assert.deepEqual({ ...h, hub_id: undefined }, {
		hub_id: undefined, public_key: hub.public_key, endpoint: 'hub2.example.com:51820', tunnel_address: '10.0.210.1',
		allowed_ips: ['10.0.0.0/16', 'fd00::/64'], persistent_keepalive: 25, priority: 1,
	});
	const b = await s.enroll(et.token, body, { key, n: 2 });
	assert.equal(b.status, 201);
	assert.deepEqual(b.body, a.body);
	const c = await s.enroll(et.token, body, { key });
	assert.deepEqual(c.body, a.body);
	const uses = await s.sql('SELECT uses FROM enrollment_tokens WHERE token_id = $1', [et.token_id]);
	assert.equal(uses.rows[0].uses, 1);
	const wf = await s.sysSql('SELECT status, name FROM dbos.workflow_status WHERE workflow_uuid = $1', [key]);
	assert.deepEqual(wf.rows, [{ status: 'SUCCESS', name: 'enrollNode' }]);
	// The node token works for its node.
	const r = await s.register(a.body.node_token, { wireguard_public_key: body.wireguard_public_key,
		wireguard_address: a.body.wireguard_address });
	assert.equal(r.status, 200);
	assert.equal(r.body.node_id, a.body.node_id);
});

test('a token with max_uses = 1 used by two nodes at once admits exactly one', async () => {
	for (let round = 0; round < 5; round++) {
		const et = await s.enrollmentToken({ max_uses: 1 });
		const rs = await Promise.all([s.enroll(et.token, {}, { n: 1 }), s.enroll(et.token, {}, { n: 2 })]);
		const statuses = rs.map((r) => r.status).sort();
		assert.deepEqual(statuses, [201, 403], JSON.stringify(rs.map((r) => r.body)));
		const n = await s.sql('SELECT count(*)::int AS n FROM nodes WHERE enrollment_token_id = $1', [et.token_id]);
		assert.equal(n.rows[0].n, 1);
	}
});

test('200 concurrent enrollments through two instances get 200 distinct addresses', async () => {
	const tokens = await Promise.all(Array.from({ length: 4 }, () => s.enrollmentToken({ max_uses: 50 })));
	const t0 = Date.now();
	// As wgn does: a 503 (saturated, or slower than WGN_CP_REQUEST_TIMEOUT on a busy
	// machine) is retried with the same idempotency key after Retry-After.
	let retried = 0;
	const rs = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
		const key = randomKey();
		const body = { hostname: `n${i}`, wireguard_public_key: wgKey() };
		for (;;) {
			const r = await s.enroll(tokens[i % 4].token, body, { n: 1 + (i % 2), key });
			if (r.status !== 503) return r;
			retried++;
			await new Promise((res) => setTimeout(res, 1000 * Number(r.headers.get('retry-after'))));
		}
	}));
	const ms = Date.now() - t0;
	const bad = rs.filter((r) => r.status !== 201);
	assert.deepEqual(bad.map((r) => [r.status, r.body]), []);
	for (const fam of [0, 1]) {
		const addrs = new Set(rs.map((r) => r.body.wireguard_address[fam]));
		assert.equal(addrs.size, 200);
	}
	const ids = new Set(rs.map((r) => r.body.node_id));
	assert.equal(ids.size, 200);
	// Nothing else in the database holds any of these addresses.
	const dup = await s.sql(`SELECT a, count(*) FROM nodes, unnest(wireguard_address) a
		WHERE NOT deleted GROUP BY a HAVING count(*) > 1`);
	assert.deepEqual(dup.rows, []);
	const byVmid = await s.sysSql(`SELECT executor_id, count(*)::int AS n FROM dbos.workflow_status
		WHERE workflow_uuid = ANY($1) GROUP BY 1 ORDER BY 1`, [rs.map((r) => r.body.workflow_id)]);
	assert.deepEqual(byVmid.rows, [{ executor_id: 'wgn-cp-1', n: 100 }, { executor_id: 'wgn-cp-2', n: 100 }]);
	// Each token was used once per node: the retries used nothing.
	const uses = await s.sql('SELECT sum(uses)::int AS n FROM enrollment_tokens WHERE token_id = ANY($1)',
		[tokens.map((t) => t.token_id)]);
	assert.equal(uses.rows[0].n, 200);
	console.log(`# 200 enrollments through two instances: ${ms} ms (${Math.round(200000 / ms)}/s), ${retried} 503s retried`);
});

test("pool exhausted is 409; never the network, broadcast or a hub's tunnel address", async () => {
	// A third instance with pools of its own, on the same database.
	s.stopApp(3);
	s.startApp(3, { WGN_CP_POOLS: '10.99.0.0/29,fd99::/125' });
	try {
		await s.hub({ tunnel_address: '10.99.0.1' });
		await s.hub({ tunnel_address: 'fd99::3' });
		const et = await s.enrollmentToken({ max_uses: 10 });
		const got = [];
		for (let i = 0; i < 5; i++) {
			const r = await s.enroll(et.token, {}, { n: 3 });
			assert.equal(r.status, 201, JSON.stringify(r.body));
			got.push(r.body.wireguard_address);
		}
		assert.deepEqual(got.map((a) => a[0]), ['10.99.0.2/29', '10.99.0.3/29', '10.99.0.4/29', '10.99.0.5/29', '10.99.0.6/29']);
		assert.deepEqual(got.map((a) => a[1]), ['fd99::1/125', 'fd99::2/125', 'fd99::4/125', 'fd99::5/125', 'fd99::6/125']);
		const r = await s.enroll(et.token, {}, { n: 3 });
		assert.equal(r.status, 409);
		assert.match(r.body.error, /^pool exhausted/);
		// A failed enrollment used nothing, and took nothing.
		assert.equal((await s.sql('SELECT uses FROM enrollment_tokens WHERE token_id = $1', [et.token_id])).rows[0].uses, 5);
		// A deleted node gives its addresses back; the same request now succeeds.
		const del = await fetch(`${s.url()}/api/v1/nodes/${(await s.sql(
			"SELECT node_id FROM nodes WHERE '10.99.0.4/29' = ANY(wireguard_address)")).rows[0].node_id}`,
		{ method: 'DELETE', headers: { authorization: `Bearer ${s.admin}` } });
		assert.equal(del.status, 204);
		const key = randomKey();
		const again = await s.enroll(et.token, {}, { n: 3, key });
		assert.equal(again.status, 201);
		assert.deepEqual(again.body.wireguard_address, ['10.99.0.4/29', 'fd99::4/125']);
	} finally {
		s.stopApp(3);
	}
});

test("addresses go out after the highest a node holds: a freed one below waits until the pool's end", async () => {
	s.stopApp(3);
	s.startApp(3, { WGN_CP_POOLS: '10.98.0.0/28,fd98::/124' });
	try {
		await s.hub({ tunnel_address: '10.98.0.3' });
		const et = await s.enrollmentToken({ max_uses: 20 });
		const next = async () => {
			const r = await s.enroll(et.token, {}, { n: 3 });
			assert.equal(r.status, 201, JSON.stringify(r.body));
			return r.body;
		};
		const got = [await next(), await next(), await next()];
		// .3 is the hub's.
		assert.deepEqual(got.map((x) => x.wireguard_address[0]), ['10.98.0.1/28', '10.98.0.2/28', '10.98.0.4/28']);
		const del = await fetch(`${s.url()}/api/v1/nodes/${got[1].node_id}`,
			{ method: 'DELETE', headers: { authorization: `Bearer ${s.admin}` } });
		assert.equal(del.status, 204);
		// Not the freed .2: the one after the highest a node holds.
		assert.deepEqual((await next()).wireguard_address, ['10.98.0.5/28', 'fd98::4/124']);
		// Up to the pool's end (.14), then the lowest free one: the freed .2.
		let last;
		for (let i = 6; i <= 14; i++) last = (await next()).wireguard_address[0];
		assert.equal(last, '10.98.0.14/28');
		assert.equal((await next()).wireguard_address[0], '10.98.0.2/28');
		const r = await s.enroll(et.token, {}, { n: 3 });
		assert.equal(r.status, 409);
		assert.match(r.body.error, /^pool exhausted/);
	} finally {
		s.stopApp(3);
	}
});
