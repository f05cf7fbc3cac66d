// Issue 9's measured problems: the app survives a PostgreSQL restart (503 +
// Retry-After meanwhile), a failed workflow is not the answer for ever, backpressure,
// distinct DBOS executor IDs.
'use strict';

const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');
const { Client } = require('pg');
const { Stack, request, wgKey, randomKey } = require('./helper');

let s;
before(async () => {
	s = await Stack.open();
});
after(async () => {
	s?.ensureApp(1);
	s?.ensureApp(2);
	await s?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Retries on 503 as wgn does (Retry-After), for up to `ms`.
async function until2xx(fn, ms = 30000) {
	const deadline = Date.now() + ms;
	for (;;) {
		const r = await fn();
		if (r.status !== 503 || Date.now() > deadline) return r;
		assert.match(r.headers.get('retry-after') ?? '', /^[0-9]+$/);
		await sleep(200);
	}
}

test('PostgreSQL restarted under load: 503 + Retry-After meanwhile, then recovery in the same process', async () => {
	const pids = [s.pid(1), s.pid(2)];
	const body = () => ({ wireguard_public_key: wgKey(), wireguard_address: ['172.16.50.1/32'] });
	// Load on both instances while PostgreSQL stops.
	let stop = false;
	const seen = [];
	const load = Array.from({ length: 8 }, async (_, i) => {
		while (!stop) {
			const r = await s.register(s.shared, body(), { n: 1 + (i % 2) }).catch((e) => ({ status: `fetch: ${e.message}` }));
			seen.push(r.status);
			if (r.status === 503) assert.match(r.headers.get('retry-after'), /^[0-9]+$/);
		}
	});
	await sleep(1000);
	s.pgCtl('stop');
	const downAt = Date.now();
	// While it is away: quick 503 + Retry-After, from both instances, for a request
	// that needs the database.
	const key = randomKey();
	const b = body();
	for (const n of [1, 2]) {
		const t0 = Date.now();
		const r = await s.register(s.shared, b, { n, key });
		assert.equal(r.status, 503, JSON.stringify(r.body));
		assert.match(r.headers.get('retry-after'), /^[0-9]+$/);
		assert.ok(Date.now() - t0 < 3000, `the 503 took ${Date.now() - t0} ms`);
		const h = await request(s.url(n), 'GET', '/healthz');
		assert.equal(h.status, 503);
	}
	await sleep(Math.max(0, 3000 - (Date.now() - downAt)));
	s.pgCtl('start');
	// Back: the same request (same idempotency key) succeeds.
	const r = await until2xx(() => s.register(s.shared, b, { n: 1, key }));
	assert.equal(r.status, 201, JSON.stringify(r.body));
	stop = true;
	await Promise.all(load);
	assert.deepEqual([s.pid(1), s.pid(2)], pids);
	assert.ok(s.running(1) && s.running(2), 'both instances still run');
	const bad = seen.filter((x) => ![200, 201, 503].includes(x));
	assert.deepEqual(bad, [], 'only successes and 503s under the restart');
	assert.ok(seen.includes(503));
	// Both instances serve again, and the feed listener is back: a long poll wakes.
	for (const n of [1, 2]) assert.equal((await until2xx(() => s.register(s.shared, body(), { n }))).status, 201);
	const hub = await s.hub({ tunnel_address: '10.0.230.1' });
	const head = (await request(s.url(), 'GET', '/api/v1/nodes?since=999999999999999', { token: hub.hub_token })).body.revision;
	const poll = until2xx(() => request(s.url(2), 'GET', `/api/v1/nodes?since=${head}&wait=20`, { token: hub.hub_token }));
	await sleep(1500);
	const t0 = Date.now();
	await s.register(s.shared, body(), { n: 1 });
	const p = await poll;
	assert.equal(p.body.nodes.length, 1);
	assert.ok(Date.now() - t0 < 5000);
});

test('a workflow that failed on a transient database error runs again for the same key', async () => {
	const key = randomKey();
	const b = { wireguard_public_key: wgKey(), wireguard_address: ['172.16.51.1/32'] };
	// Every attempt of the step blocks on a lock and has its connection terminated.
	await s.sql('BEGIN');
	await s.sql('LOCK TABLE nodes IN ACCESS EXCLUSIVE MODE');
	const pending = s.register(s.shared, b, { key });
	let done = false;
	pending.finally(() => {
		done = true;
	});
	let killed = 0;
	// On a connection of its own: pg_stat_activity is a snapshot per transaction, and
	// the one holding the lock is in a transaction.
	const killer = new Client({ host: s.env.PGHOST, port: Number(s.env.PGPORT), user: 'postgres', database: 'wgn_cp' });
	await killer.connect();
	try {
		while (!done) {
			const k = await killer.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = 'wgn_cp' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`);
			killed += k.rowCount;
			await sleep(20);
		}
	} finally {
		await killer.end();
	}
	await s.sql('ROLLBACK');
	const first = await pending;
	assert.equal(first.status, 503, JSON.stringify(first.body));
	assert.equal(first.body.error, 'the database is unavailable');
	assert.ok(killed >= 3, `${killed} connections terminated`);
	const st = await s.sysSql('SELECT status FROM dbos.workflow_status WHERE workflow_uuid = $1', [key]);
	assert.equal(st.rows[0].status, 'ERROR');
	const again = await until2xx(() => s.register(s.shared, b, { key }));
	assert.equal(again.status, 201, JSON.stringify(again.body));
	const st2 = await s.sysSql('SELECT status FROM dbos.workflow_status WHERE workflow_uuid = $1', [key]);
	assert.equal(st2.rows[0].status, 'SUCCESS');
	assert.ok(s.running(1));
});

test('saturated: 503 + Retry-After beyond WGN_CP_MAX_IN_FLIGHT, never a 500', async () => {
	s.stopApp(3);
	s.startApp(3, { WGN_CP_MAX_IN_FLIGHT: '2' });
	try {
		const rs = await Promise.all(Array.from({ length: 40 }, () => s.register(s.shared, {}, { n: 3 })));
		const by = {};
		for (const r of rs) by[r.status] = (by[r.status] ?? 0) + 1;
		assert.ok(by[503] > 0, JSON.stringify(by));
		assert.ok((by[201] ?? 0) > 0, JSON.stringify(by));
		assert.equal((by[201] ?? 0) + by[503], 40, JSON.stringify(by));
		for (const r of rs.filter((x) => x.status === 503)) {
			assert.equal(r.headers.get('retry-after'), '1');
			assert.match(r.body.error, /saturated/);
		}
		// Retrying as told gets everyone through.
		const late = await Promise.all(Array.from({ length: 10 }, () => until2xx(() => s.register(s.shared, {}, { n: 3 }))));
		assert.deepEqual(late.map((r) => r.status), Array(10).fill(201));
	} finally {
		s.stopApp(3);
	}
});

test('each instance runs its workflows under its own DBOS executor ID', async () => {
	const k1 = randomKey();
	const k2 = randomKey();
	assert.equal((await s.register(s.shared, {}, { n: 1, key: k1 })).status, 201);
	assert.equal((await s.register(s.shared, {}, { n: 2, key: k2 })).status, 201);
	const r = await s.sysSql(`SELECT workflow_uuid, executor_id FROM dbos.workflow_status
		WHERE workflow_uuid = ANY($1)`, [[k1, k2]]);
	const by = Object.fromEntries(r.rows.map((x) => [x.workflow_uuid, x.executor_id]));
	assert.deepEqual(by, { [k1]: 'wgn-cp-1', [k2]: 'wgn-cp-2' });
});

test('an enrollment left pending by a killed instance is finished by the other one', async () => {
	const et = await s.enrollmentToken();
	const key = randomKey();
	const body = { hostname: 'orphan', wireguard_public_key: wgKey() };
	// Instance 2 starts the workflow; its step waits on a lock; then instance 2 dies.
	await s.sql('BEGIN');
	await s.sql('LOCK TABLE nodes IN ACCESS EXCLUSIVE MODE');
	const lost = s.enroll(et.token, body, { key, n: 2 }).catch((e) => ({ status: `fetch: ${e.message}` }));
	for (let i = 0; ; i++) {
		const st = await s.sysSql('SELECT status, executor_id FROM dbos.workflow_status WHERE workflow_uuid = $1', [key]);
		if (st.rows.length) {
			assert.deepEqual(st.rows[0], { status: 'PENDING', executor_id: 'wgn-cp-2' });
			break;
		}
		assert.ok(i < 100, 'the workflow did not start');
		await sleep(50);
	}
	process.kill(s.pid(2), 'SIGKILL');
	assert.match(String((await lost).status), /^fetch/);
	await s.sql('ROLLBACK');
	try {
		// The client retries on instance 1 with the same key, as wgn does after 503s.
		const t0 = Date.now();
		const r = await until2xx(() => s.enroll(et.token, body, { key, n: 1 }), 60000);
		assert.equal(r.status, 201, JSON.stringify(r.body));
		const ms = Date.now() - t0;
		console.log(`# the orphaned enrollment finished ${ms} ms after the retries began`);
		assert.ok(ms < 20000, `${ms} ms`);
		const n = await s.sql('SELECT count(*)::int AS n FROM nodes WHERE enroll_workflow_id = $1', [key]);
		assert.equal(n.rows[0].n, 1);
		assert.equal((await s.sql('SELECT uses FROM enrollment_tokens WHERE token_id = $1', [et.token_id])).rows[0].uses, 1);
	} finally {
		s.startApp(2);
	}
	// Instance 2 back under its ID: the same answer.
	const again = await s.enroll(et.token, body, { key, n: 2 });
	assert.equal(again.status, 201);
});

test('long polls whose clients went away give their slots back', async () => {
	s.stopApp(3);
	s.startApp(3, { WGN_CP_MAX_IN_FLIGHT: '4' });
	try {
		const hub = await s.hub({ tunnel_address: '10.0.231.1' });
		const url = `${s.url(3)}/api/v1/nodes?since=999999999999999&wait=30`;
		for (let round = 0; round < 3; round++) {
			const aborters = Array.from({ length: 4 }, () => new AbortController());
			const polls = aborters.map((a) => fetch(url, { headers: { authorization: `Bearer ${hub.hub_token}` },
				signal: a.signal }).catch(() => 'aborted'));
			for (let i = 0; ; i++) {
				const h = (await request(s.url(3), 'GET', '/healthz')).body;
				if (h.waiting === 4) break;
				assert.ok(i < 100, JSON.stringify(h));
				await sleep(50);
			}
			// A change wakes them while their clients are gone.
			for (const a of aborters) a.abort();
			assert.deepEqual(await Promise.all(polls), Array(4).fill('aborted'));
			await s.register(s.shared, {}, { n: 3 });
			await sleep(300);
		}
		const h = (await request(s.url(3), 'GET', '/healthz')).body;
		assert.equal(h.in_flight, 0);
		assert.equal(h.waiting, 0);
		const rs = await Promise.all(Array.from({ length: 4 }, () => s.register(s.shared, {}, { n: 3 })));
		assert.deepEqual(rs.map((r) => r.status), [201, 201, 201, 201]);
	} finally {
		s.stopApp(3);
	}
});

test('beyond WGN_CP_MAX_WAITERS a long poll is 503 + Retry-After', async () => {
	s.stopApp(3);
	s.startApp(3, { WGN_CP_MAX_WAITERS: '3' });
	try {
		const hub = await s.hub({ tunnel_address: '10.0.232.1' });
		const poll = () => request(s.url(3), 'GET', '/api/v1/nodes?since=999999999999999&wait=3', { token: hub.hub_token });
		const waiting = [poll(), poll(), poll()];
		for (let i = 0; (await request(s.url(3), 'GET', '/healthz')).body.waiting < 3; i++) {
			assert.ok(i < 100);
			await sleep(50);
		}
		const r = await poll();
		assert.equal(r.status, 503);
		assert.equal(r.headers.get('retry-after'), '1');
		assert.deepEqual((await Promise.all(waiting)).map((x) => x.status), [200, 200, 200]);
		assert.equal((await poll()).status, 200);
	} finally {
		s.stopApp(3);
	}
});
