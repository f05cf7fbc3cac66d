// Roles (SPEC "Control plane roles and API"): each token does its role's work only,
// tokens are stored as SHA-256, and the wave-1 shared token can no longer take a
// node over.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { after, before, describe, test } = require('node:test');
const { Stack, request, wgKey, randomKey } = require('./helper');

let s;
before(async () => {
	s = await Stack.open();
});
after(async () => {
	await s?.close();
});

describe('roles', () => {
	let tokens;
	before(async () => {
		const hub = await s.hub({ tunnel_address: '10.0.200.1' });
		const et = await s.enrollmentToken({ max_uses: 5 });
		const enrolled = await s.enroll(et.token);
		assert.equal(enrolled.status, 201);
		tokens = {
			admin: s.admin, shared: s.shared, hub: hub.hub_token, enrollment: et.token,
			node: enrolled.body.node_token,
		};
		tokens.nodeId = enrolled.body.node_id;
	});

	// Every endpoint with every token: what the role may do answers as it should,
	// everything else is 403; no token and an unknown one are 401.
	test('the 403 matrix', async () => {
		const id = tokens.nodeId;
		const other = crypto.randomUUID();
		const cases = [
			// [method, path, body, {role: expected status}]
			['POST', '/api/v1/hubs', {}, { admin: 400 }],
			['POST', '/api/v1/enrollment-tokens', {}, { admin: 201 }],
			['GET', '/api/v1/hubs', undefined, { admin: 200 }],
			['GET', '/api/v1/nodes', undefined, { admin: 200 }],
			['GET', '/api/v1/nodes?since=0', undefined, { admin: 200, hub: 200 }],
			['GET', `/api/v1/nodes/${id}`, undefined, { admin: 200, node: 200 }],
			['DELETE', `/api/v1/nodes/${other}`, undefined, { admin: 404 }],
			['POST', `/api/v1/nodes/${id}/health`, { status: 'healthy' }, { node: 200 }],
			['POST', `/api/v1/nodes/${other}/health`, { status: 'healthy' }, {}],
			['POST', '/api/v1/nodes/enroll', {}, { enrollment: 400 }],
			['POST', '/api/v1/nodes/register', {}, { shared: 400, node: 400 }],
			['GET', '/metrics', undefined, { admin: 200 }],
		];
		const failures = [];
		for (const [method, path, body, allowed] of cases) {
			for (const role of ['admin', 'shared', 'hub', 'enrollment', 'node']) {
				const r = await request(s.url(), method, path, { token: tokens[role], body, key: randomKey() });
				const want = allowed[role] ?? 403;
				if (r.status !== want) failures.push(`${method} ${path} as ${role}: ${r.status}, want ${want}`);
			}
			for (const token of [undefined, 'wgnn_not-a-token', 'something-else']) {
				const r = await request(s.url(), method, path, { token, body, key: randomKey() });
				if (r.status !== 401) failures.push(`${method} ${path} with token ${token}: ${r.status}, want 401`);
				else if (r.headers.get('www-authenticate') !== 'Bearer') failures.push(`${method} ${path}: no WWW-Authenticate`);
			}
		}
		assert.deepEqual(failures, []);
	});

	test('a hub token reads the feed but not the plain listing', async () => {
		const r = await request(s.url(), 'GET', '/api/v1/nodes', { token: tokens.hub });
		assert.equal(r.status, 403);
		assert.match(r.body.error, /change feed only/);
	});

	test('tokens are stored as SHA-256 digests only', async () => {
		const dump = JSON.stringify((await s.sql(
			`SELECT (SELECT json_agg(h) FROM hubs h) AS h, (SELECT json_agg(t) FROM enrollment_tokens t) AS t,
			        (SELECT json_agg(n) FROM nodes n) AS n`)).rows[0]);
		for (const role of ['hub', 'enrollment', 'node']) assert.ok(!dump.includes(tokens[role]), role);
		const digest = crypto.createHash('sha256').update(tokens.node).digest();
		const r = await s.sql('SELECT count(*)::int AS n FROM nodes WHERE token_hash = $1', [digest]);
		assert.equal(r.rows[0].n, 1);
		const sys = JSON.stringify((await s.sysSql(
			`SELECT json_agg(w) AS w FROM (SELECT s.*, i.inputs FROM dbos.workflow_status s
			 LEFT JOIN dbos.workflow_input i USING (workflow_uuid)) w`)).rows[0]);
		for (const role of ['hub', 'enrollment', 'node']) assert.ok(!sys.includes(tokens[role]), `${role} in dbos`);
		const ops = JSON.stringify((await s.sysSql('SELECT json_agg(o) AS o FROM dbos.operation_outputs o')).rows[0]);
		for (const role of ['hub', 'enrollment', 'node']) assert.ok(!ops.includes(tokens[role]), `${role} in steps`);
	});
});

describe('takeover and key changes', () => {
	test("the shared token cannot replace another node's key (403)", async () => {
		const victimKey = wgKey();
		const v = await s.register(s.shared, { wireguard_public_key: victimKey, hostname: 'victim' });
		assert.equal(v.status, 201);
		const r = await s.register(s.shared, { node_id: v.body.node_id, hostname: 'attacker' });
		assert.equal(r.status, 403);
		assert.match(r.body.error, /cannot change a node's key/);
		const row = await s.sql('SELECT wireguard_public_key, hostname FROM nodes WHERE node_id = $1', [v.body.node_id]);
		assert.deepEqual(row.rows[0], { wireguard_public_key: victimKey, hostname: 'victim' });
	});

	test('the shared token still registers and updates a node without a node token', async () => {
		const key = wgKey();
		const a = await s.register(s.shared, { wireguard_public_key: key, wireguard_address: ['172.16.1.1/24'] });
		assert.equal(a.status, 201);
		const b = await s.register(s.shared, { wireguard_public_key: key, wireguard_address: ['172.16.1.2/24'] });
		assert.equal(b.status, 200);
		assert.equal(b.body.node_id, a.body.node_id);
		// A lost control plane: the node keeps the node_id it sends.
		const id = crypto.randomUUID();
		const c = await s.register(s.shared, { node_id: id });
		assert.equal(c.status, 201);
		assert.equal(c.body.node_id, id);
	});

	test('a registration sent again after a different one is applied again, not just replayed', async () => {
		// wgn's idempotency key is a hash of the content: going back to an earlier
		// content sends an earlier key, whose recorded answer is out of date.
		const key = wgKey();
		const reg = (addr) => s.register(s.shared, { wireguard_public_key: key, wireguard_address: [addr] },
			{ key: `back-${key}-${addr}` });
		const x1 = await reg('172.16.3.1/32');
		assert.equal(x1.status, 201);
		assert.equal((await reg('172.16.3.2/32')).status, 200);
		const x2 = await reg('172.16.3.1/32');
		assert.equal(x2.status, 200);
		assert.ok(x2.body.revision > x1.body.revision);
		const row = await s.sql('SELECT wireguard_address FROM nodes WHERE node_id = $1', [x1.body.node_id]);
		assert.deepEqual(row.rows[0].wireguard_address, ['172.16.3.1/32']);
		// The same content twice in a row is still one workflow run.
		const x3 = await reg('172.16.3.1/32');
		assert.equal(x3.body.revision, x2.body.revision);
		assert.equal(x3.body.registered_at, x2.body.registered_at);
	});

	test('the shared token cannot touch an enrolled node', async () => {
		const et = await s.enrollmentToken();
		const key = wgKey();
		const e = await s.enroll(et.token, { wireguard_public_key: key });
		assert.equal(e.status, 201);
		const r = await s.register(s.shared, { wireguard_public_key: key });
		assert.equal(r.status, 403);
		const r2 = await s.register(s.shared, { node_id: e.body.node_id });
		assert.equal(r2.status, 403);
	});

	test('a node token registers its own node, and changes its key only with previous_public_key', async () => {
		const et = await s.enrollmentToken();
		const key = wgKey();
		const e = await s.enroll(et.token, { wireguard_public_key: key });
		const token = e.body.node_token;
		const addr = e.body.wireguard_address;
		const ok = await s.register(token, { wireguard_public_key: key, wireguard_address: addr, node_id: e.body.node_id });
		assert.equal(ok.status, 200);
		assert.equal(ok.body.node_id, e.body.node_id);
		const rev0 = ok.body.revision;

		// Another node's id with its own token: 403.
		const other = await s.enroll((await s.enrollmentToken()).token);
		const r = await s.register(token, { wireguard_public_key: key, wireguard_address: addr, node_id: other.body.node_id });
		assert.equal(r.status, 403);
		// Another node's key: 409.
		const otherKey = (await s.sql('SELECT wireguard_public_key FROM nodes WHERE node_id = $1', [other.body.node_id])).rows[0].wireguard_public_key;
		assert.equal((await s.register(token, { wireguard_public_key: otherKey, wireguard_address: addr,
			previous_public_key: key })).status, 409);

		// A new key without, or with a wrong, previous_public_key: 409.
		const newKey = wgKey();
		assert.equal((await s.register(token, { wireguard_public_key: newKey, wireguard_address: addr })).status, 409);
		assert.equal((await s.register(token, { wireguard_public_key: newKey, wireguard_address: addr,
			previous_public_key: wgKey() })).status, 409);
		// The right one: same node, address and token; the change is on the feed.
		const rot = await s.register(token, { wireguard_public_key: newKey, wireguard_address: addr, previous_public_key: key });
		assert.equal(rot.status, 200);
		assert.equal(rot.body.node_id, e.body.node_id);
		assert.deepEqual(rot.body.wireguard_address, addr);
		assert.ok(rot.body.revision > rev0);
		const again = await s.register(token, { wireguard_public_key: newKey, wireguard_address: addr });
		assert.equal(again.status, 200);
		assert.equal(again.body.revision, rot.body.revision, 'an unchanged node keeps its revision');
	});

	test("the shared token cannot rotate an enrolled node's key, even with previous_public_key", async () => {
		const e = await s.enroll((await s.enrollmentToken()).token);
		const key = (await s.sql('SELECT wireguard_public_key FROM nodes WHERE node_id = $1', [e.body.node_id])).rows[0].wireguard_public_key;
		const r = await s.register(s.shared, { node_id: e.body.node_id, wireguard_public_key: wgKey(),
			wireguard_address: e.body.wireguard_address, previous_public_key: key });
		assert.equal(r.status, 403);
		const r2 = await s.register(s.shared, { wireguard_public_key: wgKey(),
			wireguard_address: e.body.wireguard_address, previous_public_key: key });
		assert.notEqual(r2.body.node_id, e.body.node_id, 'a new node at most, never this one');
		const now = (await s.sql('SELECT wireguard_public_key FROM nodes WHERE node_id = $1', [e.body.node_id])).rows[0];
		assert.equal(now.wireguard_public_key, key);
	});

	test("a rotation undone (the old key back with previous_public_key = the new one), then done again with the same request", async () => {
		const e = await s.enroll((await s.enrollmentToken()).token);
		const token = e.body.node_token;
		const addr = e.body.wireguard_address;
		const key = (await s.sql('SELECT wireguard_public_key FROM nodes WHERE node_id = $1', [e.body.node_id])).rows[0].wireguard_public_key;
		const newKey = wgKey();
		const forward = { wireguard_public_key: newKey, wireguard_address: addr, previous_public_key: key };
		const rot = await s.register(token, forward, { key: 'a'.repeat(64) });
		assert.equal(rot.status, 200);
		assert.equal(rot.body.wireguard_public_key, newKey);
		// wgn rotate's undo: same node, address and token, a new revision for the hubs.
		const back = await s.register(token, { wireguard_public_key: key, wireguard_address: addr, previous_public_key: newKey });
		assert.equal(back.status, 200);
		assert.equal(back.body.node_id, e.body.node_id);
		assert.deepEqual(back.body.wireguard_address, addr);
		assert.equal(back.body.wireguard_public_key, key);
		assert.ok(back.body.revision > rot.body.revision);
		// The same rotation again (wgn rotate resuming with its pending key): the
		// recorded answer is stale, so the workflow runs again and the key changes.
		const again = await s.register(token, forward, { key: 'a'.repeat(64) });
		assert.equal(again.status, 200);
		assert.equal(again.body.wireguard_public_key, newKey);
		assert.ok(again.body.revision > back.body.revision);
		const row = (await s.sql('SELECT wireguard_public_key FROM nodes WHERE node_id = $1', [e.body.node_id])).rows[0];
		assert.equal(row.wireguard_public_key, newKey);
		// Registering the key the node has with a stale previous_public_key is harmless.
		const same = await s.register(token, forward);
		assert.equal(same.status, 200);
		assert.equal(same.body.revision, again.body.revision);
		// Neither key is the node's: 409.
		const lost = await s.register(token, { wireguard_public_key: wgKey(), wireguard_address: addr, previous_public_key: key });
		assert.equal(lost.status, 409);
	});
});

describe('enrollment tokens', () => {
	test('expired, used-up and unknown tokens are refused; labels are inherited', async () => {
		const expired = await s.enrollmentToken({ expires_at: new Date(Date.now() - 1000).toISOString() });
		const r1 = await s.enroll(expired.token);
		assert.equal(r1.status, 403);
		assert.match(r1.body.error, /expired/);

		const once = await s.enrollmentToken({ labels: { env: 'prod', site: 'a' } });
		assert.equal(once.max_uses, 1);
		const ok = await s.enroll(once.token, { labels: { env: 'dev', role: 'db' } });
		assert.equal(ok.status, 201);
		const labels = (await s.sql('SELECT labels FROM nodes WHERE node_id = $1', [ok.body.node_id])).rows[0].labels;
		assert.deepEqual(labels, { env: 'prod', site: 'a', role: 'db' });
		const r2 = await s.enroll(once.token);
		assert.equal(r2.status, 403);
		assert.match(r2.body.error, /used up/);

		const r3 = await s.enroll('wgne_' + 'x'.repeat(43));
		assert.equal(r3.status, 401);
	});

	test('a failed enrollment is not the answer for ever to the same idempotency key', async () => {
		const key = randomKey();
		const body = { hostname: 'late', wireguard_public_key: wgKey() };
		const expired = await s.enrollmentToken({ expires_at: new Date(Date.now() - 1000).toISOString() });
		assert.equal((await s.enroll(expired.token, body, { key })).status, 403);
		const fresh = await s.enrollmentToken();
		const r = await s.enroll(fresh.token, body, { key });
		assert.equal(r.status, 201);
		// The same request with another token is not handed this node's token.
		const third = await s.enrollmentToken();
		const r2 = await s.enroll(third.token, body, { key });
		assert.equal(r2.status, 409);
		assert.equal(r2.body.node_token, undefined);
	});
});

describe('validation', () => {
	test('a NUL in the hostname is 400 naming the field, and the good request then works', async () => {
		const key = randomKey();
		const pub = wgKey();
		const bad = await s.register(s.shared, { hostname: 'a\u0000b', wireguard_public_key: pub }, { key });
		assert.equal(bad.status, 400);
		assert.match(bad.body.error, /^hostname contains a control character/);
		// No workflow was started for it, so the key is free for the good request.
		const st = await s.sysSql('SELECT count(*)::int AS n FROM dbos.workflow_status WHERE workflow_uuid = $1', [key]);
		assert.equal(st.rows[0].n, 0);
		const good = await s.register(s.shared, { hostname: 'ab', wireguard_public_key: pub }, { key });
		assert.equal(good.status, 201);
		const et = await s.enrollmentToken();
		const e = await s.enroll(et.token, { hostname: 'x\u0000' });
		assert.equal(e.status, 400);
		assert.match(e.body.error, /^hostname /);
		assert.equal((await s.enroll(et.token, { labels: { a: 'b\u0000' } })).status, 400);
	});

	test('hub_endpoint, labels and addresses are checked and capped', async () => {
		const reg = (body) => s.register(s.shared, body);
		for (const ep of ['hub', 'hub:0', 'hub:70000', 'a b:1', '[fd00::1:51820', 'fd00::1:51820', 'x'.repeat(300) + ':1'])
			assert.equal((await reg({ hub_endpoint: ep })).status, 422, ep);
		for (const ep of ['hub.example.com:51820', '10.0.0.1:51820', '[fd00::1]:51820'])
			assert.ok([200, 201].includes((await reg({ hub_endpoint: ep })).status), ep);
		const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
		const r = await reg({ labels: many });
		assert.equal(r.status, 422);
		assert.match(r.body.error, /labels has more than 64/);
		const addrs = Array.from({ length: 17 }, (_, i) => `172.16.2.${i}/32`);
		const r2 = await reg({ wireguard_address: addrs });
		assert.equal(r2.status, 422);
		assert.match(r2.body.error, /wireguard_address has more than 16/);
		const big = await request(s.url(), 'POST', '/api/v1/nodes/register',
			{ token: s.shared, key: randomKey(), raw: JSON.stringify({ hostname: 'x'.repeat(70000) }) });
		assert.equal(big.status, 413);
	});

	test('hubs: bad fields are 422, a duplicate key or a taken tunnel address 409', async () => {
		const post = (body) => request(s.url(), 'POST', '/api/v1/hubs', { token: s.admin, body });
		const good = { public_key: wgKey(), endpoint: 'h:1', tunnel_address: '10.0.201.1' };
		assert.equal((await post({ ...good, endpoint: 'nope' })).status, 422);
		assert.equal((await post({ ...good, tunnel_address: '10.0.0.0/24' })).status, 422);
		assert.equal((await post({ ...good, persistent_keepalive: -1 })).status, 422);
		assert.equal((await post(good)).status, 201);
		assert.equal((await post(good)).status, 409);
		assert.equal((await post({ ...good, public_key: wgKey() })).status, 409);
	});
});

describe('revocation', () => {
	test('a revoked enrollment token and a deleted hub are refused (401); the tunnel address is free', async () => {
		const et = await s.enrollmentToken({ max_uses: 5 });
		assert.equal((await s.enroll(et.token)).status, 201);
		const del = (p) => request(s.url(), 'DELETE', p, { token: s.admin });
		assert.equal((await del(`/api/v1/enrollment-tokens/${et.token_id}`)).status, 204);
		assert.equal((await del(`/api/v1/enrollment-tokens/${et.token_id}`)).status, 404);
		assert.equal((await s.enroll(et.token)).status, 401);

		const hub = await s.hub({ tunnel_address: '10.0.240.1' });
		const feed = () => request(s.url(2), 'GET', '/api/v1/nodes?since=0&limit=1', { token: hub.hub_token });
		assert.equal((await feed()).status, 200);
		assert.equal((await request(s.url(), 'DELETE', `/api/v1/hubs/${hub.hub_id}`, { token: hub.hub_token })).status, 403);
		assert.equal((await del(`/api/v1/hubs/${hub.hub_id}`)).status, 204);
		assert.equal((await del(`/api/v1/hubs/${hub.hub_id}`)).status, 404);
		assert.equal((await del('/api/v1/hubs/nope')).status, 404);
		assert.equal((await feed()).status, 401);
		const hubs = (await request(s.url(), 'GET', '/api/v1/hubs', { token: s.admin })).body.hubs;
		assert.ok(!hubs.some((h) => h.hub_id === hub.hub_id));
		assert.equal((await s.hub({ tunnel_address: '10.0.240.1' })).tunnel_address, '10.0.240.1');
	});
});
