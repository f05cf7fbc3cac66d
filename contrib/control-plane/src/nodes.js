// Nodes, hubs, enrollment tokens and address allocations in PostgreSQL.
//
// Every change of a node that a hub cares about (created, key changed, address
// changed, deleted) takes the next value of the sequence `revision` as the row's
// revision, and notifies `wgn_nodes`. The revision is taken under a transaction-level
// advisory lock as the transaction's last statement, so revisions become visible in
// the order they were taken: a reader that sees revision R has seen every revision
// below R, and the change feed never skips a change that committed late.
'use strict';

const crypto = require('node:crypto');
const { ApiError } = require('./db');
const { CHANNEL } = require('./feed');
const ip = require('./ip');
const tokens = require('./tokens');

// A change feed entry: what a hub needs to admit or drop a node, and no more (a hub
// token sees no hostnames, labels or health; a page of 1,000 is 2.3x smaller than
// whole nodes). The whole node is GET /api/v1/nodes/{id} (admin).
const FEED_COLUMNS = 'node_id, wireguard_public_key, wireguard_address, revision, deleted';
const NODE_COLUMNS = `node_id, wireguard_public_key, hostname, interface_name, wireguard_address,
	hub_endpoint, labels, wgn_version, first_registered_at, registered_at, revision, deleted,
	status, last_seen, enrollment_token_id, (token_hash IS NOT NULL) AS has_token`;

function iso(t) {
	return t ? new Date(t).toISOString() : null;
}

function toApi(row) {
	return {
		node_id: row.node_id,
		wireguard_public_key: row.wireguard_public_key,
		hostname: row.hostname,
		interface_name: row.interface_name,
		wireguard_address: row.wireguard_address,
		hub_endpoint: row.hub_endpoint,
		labels: row.labels,
		wgn_version: row.wgn_version,
		first_registered_at: iso(row.first_registered_at),
		registered_at: iso(row.registered_at),
		revision: Number(row.revision),
		deleted: row.deleted,
		enrolled: row.has_token ?? false,
		status: row.status ?? null,
		last_seen: iso(row.last_seen),
	};
}

// The statement that writes one node's revision (`nextval('revision')` in sql, a
// RETURNING clause at its end), made to take the revision lock first and to notify
// the new revision, in one round trip: the lock is held from there to the COMMIT
// that follows at once. Call it last in a transaction.
async function writeWithRevision(c, sql, values) {
	const locked = `WITH rev_lock AS (SELECT pg_advisory_xact_lock(hashtext('wgn-cp revision')))
		${sql.replace("nextval('revision')", "(SELECT nextval('revision') FROM rev_lock)")},
		pg_notify('${CHANNEL}', revision::text) AS notified`;
	const r = await c.query(locked, values);
	return r.rows[0];
}

function sameSet(a, b) {
	if (a.length !== b.length) return false;
	const s = new Set(a);
	return b.every((x) => s.has(x));
}

// The host address of "10.0.0.7/24", if it lies in one of the pools.
function inPools(pools, cidr) {
	const a = ip.parseAddress(cidr.split('/')[0]);
	if (!a) return null;
	return pools.some((p) => ip.contains(p, a.family, a.value)) ? ip.formatAddress(a.family, a.value) : null;
}

// Registered addresses that lie in a pool are taken there too, so that enrollment
// never hands them out; addresses the node no longer has are given back.
async function reserveAddresses(c, pools, nodeId, addrs) {
	const hosts = addrs.map((a) => inPools(pools, a)).filter((a) => a !== null);
	await c.query('DELETE FROM allocations WHERE node_id = $1 AND NOT (address = ANY($2::inet[]))',
		[nodeId, hosts]);
	for (const h of hosts)
		await c.query('INSERT INTO allocations (address, node_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
			[h, nodeId]);
}

// POST /api/v1/nodes/register. principal: {role: 'shared'} (the wave-1 token) or
// {role: 'node', node_id}. Returns {created, node}.
//
// The shared token registers nodes that have no node token, and never changes a
// node's key: a body with a known node_id and another key is 403 (it used to
// replace the victim's key). A node token registers its own node only; it changes
// the key only with previous_public_key equal to the current one (409 otherwise).
async function register(db, reg, principal, pools) {
	return db.transaction(async (c) => {
		const byKey = (await c.query(
			`SELECT ${NODE_COLUMNS} FROM nodes WHERE wireguard_public_key = $1 AND NOT deleted FOR UPDATE`,
			[reg.wireguard_public_key])).rows[0];
		let row = null;
		let keyChange = false;
		if (principal.role === 'node') {
			if (reg.node_id && reg.node_id !== principal.node_id)
				throw new ApiError(403, 'a node token registers its own node only');
			row = (await c.query(
				`SELECT ${NODE_COLUMNS} FROM nodes WHERE node_id = $1 AND NOT deleted FOR UPDATE`,
				[principal.node_id])).rows[0];
			if (!row) throw new ApiError(401, 'the node of this token was deleted');
			if (byKey && byKey.node_id !== row.node_id)
				throw new ApiError(409, 'wireguard_public_key belongs to another node');
			if (row.wireguard_public_key !== reg.wireguard_public_key) {
				if (reg.previous_public_key !== row.wireguard_public_key)
					throw new ApiError(409, 'previous_public_key is not the key the node has now');
				keyChange = true;
			}
		} else if (byKey) {
			if (byKey.has_token)
				throw new ApiError(403, 'this node was enrolled: it registers with its own node token');
			row = byKey;
		} else if (reg.node_id) {
			const byId = (await c.query(
				`SELECT ${NODE_COLUMNS} FROM nodes WHERE node_id = $1 FOR UPDATE`, [reg.node_id])).rows[0];
			if (byId && (byId.has_token || byId.wireguard_public_key !== reg.wireguard_public_key))
				throw new ApiError(403, "the shared token cannot change a node's key: " +
					"rotate with the node's own token and previous_public_key");
			row = byId ?? null; // a tombstone of this very key comes back to life
		}

		const values = [reg.wireguard_public_key, reg.hostname, reg.interface_name,
			reg.wireguard_address, reg.hub_endpoint, JSON.stringify(reg.labels),
			reg.wgn_version, reg.client_registered_at];
		let out;
		if (row) {
			const changed = keyChange || row.deleted ||
				!sameSet(row.wireguard_address, reg.wireguard_address);
			const set = `wireguard_public_key = $1, hostname = $2, interface_name = $3,
				wireguard_address = $4, hub_endpoint = $5, labels = $6, wgn_version = $7,
				client_registered_at = $8, registered_at = now(), deleted = false`;
			await reserveAddresses(c, pools, row.node_id, reg.wireguard_address);
			if (changed) {
				out = await writeWithRevision(c,
					`UPDATE nodes SET ${set}, revision = nextval('revision') WHERE node_id = $9
					 RETURNING ${NODE_COLUMNS}`, [...values, row.node_id]);
			} else {
				out = (await c.query(`UPDATE nodes SET ${set} WHERE node_id = $9 RETURNING ${NODE_COLUMNS}`,
					[...values, row.node_id])).rows[0];
			}
			return { created: row.deleted, node: toApi(out) };
		}
		// A node that lost its control plane keeps the node_id it already has.
		const nodeId = reg.node_id ?? crypto.randomUUID();
		await reserveAddresses(c, pools, nodeId, reg.wireguard_address);
		out = await writeWithRevision(c,
			`INSERT INTO nodes (wireguard_public_key, hostname, interface_name, wireguard_address,
			 hub_endpoint, labels, wgn_version, client_registered_at, node_id, revision)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nextval('revision')) RETURNING ${NODE_COLUMNS}`,
			[...values, nodeId]);
		return { created: true, node: toApi(out) };
	});
}

// A free host address of the pool, taken for nodeId: the one after the highest that a
// node holds (an index scan from the top, whatever the number of nodes), walking up
// past addresses that hubs or concurrent inserts hold; once the pool's end is reached,
// the lowest free one (a scan of the pool's allocations). So addresses go out in
// increasing order and a deleted node's address is not handed out again until the
// pool has run through once. Conflict-free across instances: the INSERT either takes
// the address or finds it taken (the primary key) and the next one is tried.
async function allocate(c, pool, nodeId) {
	const first = ip.formatAddress(pool.family, pool.first);
	const last = ip.formatAddress(pool.family, pool.last);
	// (null when the highest is the pool's last address: then the scan.)
	let cand = (await c.query(
		`SELECT CASE WHEN m IS NULL THEN host($1::inet) WHEN m < $2::inet THEN host(m + 1) END AS c
		   FROM (SELECT max(address) AS m FROM allocations
		          WHERE address >= $1::inet AND address <= $2::inet AND node_id IS NOT NULL) s`,
		[first, last])).rows[0].c;
	let scanning = cand === null;
	for (let attempt = 0; attempt < 100; attempt++) {
		if (cand === null) {
			const r = await c.query(
				`SELECT host(min(c)) AS c FROM (
				   SELECT $1::inet AS c WHERE NOT EXISTS (SELECT 1 FROM allocations WHERE address = $1::inet)
				   UNION ALL
				   SELECT a.address + 1 FROM allocations a
				    WHERE a.address >= $1::inet AND a.address < $2::inet
				      AND NOT EXISTS (SELECT 1 FROM allocations b WHERE b.address = a.address + 1)) s`,
				[first, last]);
			cand = r.rows[0].c;
			scanning = true;
			if (cand === null) throw new ApiError(409, `pool exhausted: no free address in ${pool.text}`);
		}
		const ins = await c.query(
			'INSERT INTO allocations (address, node_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING address',
			[cand, nodeId]);
		if (ins.rowCount === 1) return `${cand}/${pool.prefix}`;
		// Taken: the next one up, or a new scan.
		cand = scanning ? null : (await c.query(
			'SELECT CASE WHEN $1::inet < $2::inet THEN host($1::inet + 1) END AS c', [cand, last])).rows[0].c;
	}
	throw new ApiError(503, 'too many concurrent allocations; try again');
}

function hubToApi(h) {
	return {
		hub_id: h.hub_id,
		public_key: h.public_key,
		endpoint: h.endpoint,
		tunnel_address: h.tunnel_address,
		allowed_ips: h.allowed_ips,
		persistent_keepalive: h.persistent_keepalive,
		priority: h.priority,
	};
}

async function hubs(c) {
	const r = await c.query(`SELECT hub_id, public_key, endpoint, host(tunnel_address) AS tunnel_address,
		allowed_ips, persistent_keepalive, priority FROM hubs ORDER BY priority, created_at, hub_id`);
	return r.rows.map(hubToApi);
}

// POST /api/v1/nodes/enroll, as the step of the enrollment workflow `workflowId`.
// Safe to run again: an enrollment that committed is found by its workflow ID and
// answered as it was, without using the token again.
async function enroll(db, inp, { workflowId, tokenId, nodeTokenHash, pools }) {
	return db.transaction(async (c) => {
		const done = (await c.query(
			`SELECT node_id, wireguard_address, enrollment_token_id FROM nodes
			 WHERE enroll_workflow_id = $1`, [workflowId])).rows[0];
		if (done) {
			return { node_id: done.node_id, wireguard_address: done.wireguard_address,
				hubs: await hubs(c), enrollment_token_id: done.enrollment_token_id };
		}
		const t = (await c.query(
			`SELECT token_id, expires_at, max_uses, uses, labels, expires_at <= now() AS expired
			 FROM enrollment_tokens WHERE token_id = $1 FOR UPDATE`, [tokenId])).rows[0];
		if (!t) throw new ApiError(401, 'unknown enrollment token');
		if (t.expired) throw new ApiError(403, 'the enrollment token has expired');
		if (t.uses >= t.max_uses) throw new ApiError(403, 'the enrollment token is used up');
		const taken = await c.query(
			'SELECT node_id FROM nodes WHERE wireguard_public_key = $1 AND NOT deleted',
			[inp.wireguard_public_key]);
		if (taken.rowCount > 0)
			throw new ApiError(409, 'wireguard_public_key belongs to a node already');
		const nodeId = crypto.randomUUID();
		const addrs = [];
		for (const pool of pools) addrs.push(await allocate(c, pool, nodeId));
		await c.query('UPDATE enrollment_tokens SET uses = uses + 1 WHERE token_id = $1', [tokenId]);
		// The token's labels are the administrator's: they win over the node's own.
		const labels = { ...inp.labels, ...t.labels };
		await writeWithRevision(c,
			`INSERT INTO nodes (node_id, wireguard_public_key, hostname, interface_name,
			 wireguard_address, hub_endpoint, labels, wgn_version, token_hash, enroll_workflow_id,
			 enrollment_token_id, revision)
			 VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9, $10, nextval('revision'))
			 RETURNING revision`,
			[nodeId, inp.wireguard_public_key, inp.hostname, inp.interface_name, addrs,
				JSON.stringify(labels), inp.wgn_version, nodeTokenHash, workflowId, tokenId]);
		return { node_id: nodeId, wireguard_address: addrs, hubs: await hubs(c),
			enrollment_token_id: tokenId };
	});
}

function canonical(v) {
	if (Array.isArray(v)) return v.map(canonical);
	if (v && typeof v === 'object')
		return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
	return v;
}

// Whether live node nodeId holds what registration reg says, so that the recorded
// answer to reg is still true (wgn sends an earlier idempotency key again when a node
// goes back to an earlier content: that must be applied again, not only answered).
async function registrationCurrent(db, nodeId, reg) {
	const r = await db.query(`SELECT ${NODE_COLUMNS} FROM nodes WHERE node_id = $1 AND NOT deleted`, [nodeId]);
	if (r.rowCount === 0) return false;
	const n = r.rows[0];
	return n.wireguard_public_key === reg.wireguard_public_key && n.hostname === reg.hostname &&
		n.interface_name === reg.interface_name && n.hub_endpoint === reg.hub_endpoint &&
		(n.wgn_version ?? null) === (reg.wgn_version ?? null) &&
		JSON.stringify(n.wireguard_address) === JSON.stringify(reg.wireguard_address) &&
		JSON.stringify(canonical(n.labels)) === JSON.stringify(canonical(reg.labels));
}

// Whether node nodeId is live and holds the token with this digest.
async function nodeHoldsToken(db, nodeId, digest) {
	const r = await db.query('SELECT token_hash FROM nodes WHERE node_id = $1 AND NOT deleted', [nodeId]);
	if (r.rowCount === 0) return 'deleted';
	return tokens.sameDigest(r.rows[0].token_hash, digest) ? 'yes' : 'other';
}

async function createHub(db, h) {
	const token = tokens.newToken('hub');
	const hubId = crypto.randomUUID();
	const row = await db.transaction(async (c) => {
		// Run again after a commit whose answer was lost: this very hub is there.
		const mine = await c.query(`SELECT hub_id, public_key, endpoint, host(tunnel_address) AS tunnel_address,
			allowed_ips, persistent_keepalive, priority FROM hubs WHERE hub_id = $1`, [hubId]);
		if (mine.rowCount) return mine.rows[0];
		const dup = await c.query('SELECT hub_id FROM hubs WHERE public_key = $1', [h.public_key]);
		if (dup.rowCount) throw new ApiError(409, `a hub with this public_key exists: ${dup.rows[0].hub_id}`);
		const a = ip.parseAddress(h.tunnel_address);
		const host = ip.formatAddress(a.family, a.value);
		const used = await c.query(
			'INSERT INTO allocations (address, hub_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING address',
			[host, hubId]);
		if (used.rowCount === 0) {
			const owner = (await c.query('SELECT node_id, hub_id FROM allocations WHERE address = $1', [host])).rows[0];
			throw new ApiError(409, `tunnel_address ${host} is taken by ${owner?.node_id ? `node ${owner.node_id}` : `hub ${owner?.hub_id}`}`);
		}
		return (await c.query(
			`INSERT INTO hubs (hub_id, token_hash, public_key, endpoint, tunnel_address, allowed_ips,
			 persistent_keepalive, priority) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			 RETURNING hub_id, public_key, endpoint, host(tunnel_address) AS tunnel_address,
			 allowed_ips, persistent_keepalive, priority`,
			[hubId, tokens.sha256(token), h.public_key, h.endpoint, host, h.allowed_ips,
				h.persistent_keepalive, h.priority])).rows[0];
	});
	return { ...hubToApi(row), hub_token: token };
}

// DELETE /api/v1/hubs/{id}: its token stops working, its tunnel address is free.
async function deleteHub(db, hubId) {
	return db.transaction(async (c) => {
		const r = await c.query('DELETE FROM hubs WHERE hub_id = $1 RETURNING hub_id', [hubId]);
		await c.query('DELETE FROM allocations WHERE hub_id = $1', [hubId]);
		return r.rowCount === 1;
	});
}

// DELETE /api/v1/enrollment-tokens/{id}: revoked; nodes it enrolled stay.
async function deleteEnrollmentToken(db, tokenId) {
	const r = await db.query('DELETE FROM enrollment_tokens WHERE token_id = $1', [tokenId]);
	return r.rowCount === 1;
}

async function listHubs(db) {
	return hubs(db.pool);
}

async function createEnrollmentToken(db, t) {
	const token = tokens.newToken('enrollment');
	const r = await db.query(
		`INSERT INTO enrollment_tokens (token_id, token_hash, expires_at, max_uses, labels)
		 VALUES ($1, $2, $3, $4, $5) RETURNING token_id, expires_at, max_uses, labels`,
		[crypto.randomUUID(), tokens.sha256(token), t.expires_at, t.max_uses, JSON.stringify(t.labels)]);
	const row = r.rows[0];
	return { token_id: row.token_id, token, expires_at: iso(row.expires_at), max_uses: row.max_uses,
		labels: row.labels };
}

// DELETE /api/v1/nodes/{id}: a tombstone that keeps the key for the hubs; the node's
// token stops working and its pool addresses are free again.
async function deleteNode(db, nodeId) {
	return db.transaction(async (c) => {
		const r = await c.query('SELECT node_id FROM nodes WHERE node_id = $1 AND NOT deleted FOR UPDATE', [nodeId]);
		if (r.rowCount === 0) return false;
		await c.query('DELETE FROM allocations WHERE node_id = $1', [nodeId]);
		await writeWithRevision(c,
			`UPDATE nodes SET deleted = true, token_hash = NULL, enroll_workflow_id = NULL,
			 revision = nextval('revision') WHERE node_id = $1 RETURNING revision`, [nodeId]);
		return true;
	});
}

// The change feed: nodes changed after `since` in revision order, at most `limit`.
// since = 0 lists the live nodes only. Returns {revision, more, nodes}: revision is
// where the next request goes on from (the last node's when more, else the newest
// revision there is).
async function changes(db, since, limit) {
	const r = await db.query(
		`SELECT (SELECT coalesce(max(revision), 0) FROM nodes) AS head,
		        (SELECT coalesce(json_agg(p ORDER BY p.revision), '[]'::json) FROM (
		           SELECT ${FEED_COLUMNS} FROM nodes
		            WHERE revision > $1 AND ($1 > 0 OR NOT deleted)
		            ORDER BY revision LIMIT $2) p) AS rows`,
		[since, limit + 1]);
	const rows = r.rows[0].rows;
	const more = rows.length > limit;
	const page = more ? rows.slice(0, limit) : rows;
	const head = Number(r.rows[0].head);
	const revision = more ? Number(page[page.length - 1].revision) : head;
	return { revision, more, nodes: page.map(feedEntry) };
}

function feedEntry(row) {
	return { node_id: row.node_id, wireguard_public_key: row.wireguard_public_key,
		wireguard_address: row.wireguard_address, revision: Number(row.revision), deleted: row.deleted };
}

// Plain listing for operators: live nodes by node_id, after `cursor`, optionally of
// one status ("unknown": never reported). Returns {nodes, next_cursor}.
async function listNodes(db, { cursor, limit, status }) {
	const cond = ['NOT deleted'];
	const values = [];
	if (cursor) {
		values.push(cursor);
		cond.push(`node_id > $${values.length}`);
	}
	// unknown: no report yet, or a report whose check could not run.
	if (status === 'unknown') cond.push("(status IS NULL OR status = 'unknown')");
	else if (status) {
		values.push(status);
		cond.push(`status = $${values.length}`);
	}
	values.push(limit + 1);
	const r = await db.query(
		`SELECT ${NODE_COLUMNS} FROM nodes WHERE ${cond.join(' AND ')} ORDER BY node_id LIMIT $${values.length}`,
		values);
	const more = r.rows.length > limit;
	const rows = more ? r.rows.slice(0, limit) : r.rows;
	return { nodes: rows.map(toApi), next_cursor: more ? rows[rows.length - 1].node_id : null };
}

async function getNode(db, nodeId) {
	const r = await db.query(`SELECT ${NODE_COLUMNS} FROM nodes WHERE node_id = $1 AND NOT deleted`, [nodeId]);
	return r.rowCount ? toApi(r.rows[0]) : null;
}

async function recordHealth(db, nodeId, h) {
	const r = await db.query(
		`UPDATE nodes SET status = $2, last_seen = now(), health = $3 WHERE node_id = $1 AND NOT deleted
		 RETURNING status, last_seen`, [nodeId, h.status, JSON.stringify(h.report)]);
	if (r.rowCount === 0) return null;
	return { node_id: nodeId, status: r.rows[0].status, last_seen: iso(r.rows[0].last_seen) };
}

// Prometheus text exposition of the fleet.
async function metrics(db, statuses) {
	const counts = await db.query(
		`SELECT coalesce(status, 'unknown') AS status, count(*) AS n FROM nodes WHERE NOT deleted GROUP BY 1`);
	const seen = await db.query(
		`SELECT node_id, extract(epoch FROM last_seen) AS t FROM nodes
		 WHERE NOT deleted AND last_seen IS NOT NULL ORDER BY node_id`);
	const n = Object.fromEntries([...statuses, 'unknown'].map((s) => [s, 0]));
	for (const row of counts.rows) n[row.status] = Number(row.n);
	const lines = [
		'# HELP wgn_fleet_nodes Live nodes by the status of their last health report (unknown: none yet, or the check could not run).',
		'# TYPE wgn_fleet_nodes gauge',
		...Object.entries(n).map(([s, v]) => `wgn_fleet_nodes{status="${s}"} ${v}`),
		'# HELP wgn_fleet_last_seen_seconds Unix time of the node\'s last health report.',
		'# TYPE wgn_fleet_last_seen_seconds gauge',
		...seen.rows.map((r) => `wgn_fleet_last_seen_seconds{node_id="${r.node_id}"} ${Number(r.t).toFixed(3)}`),
	];
	return lines.join('\n') + '\n';
}

// The principal of a bearer token that the database knows, or null.
async function lookupToken(db, token) {
	const role = tokens.roleOf(token);
	const digest = tokens.sha256(token);
	if (role === 'enrollment') {
		const r = await db.query('SELECT token_id FROM enrollment_tokens WHERE token_hash = $1', [digest]);
		return r.rowCount ? { role, token_id: r.rows[0].token_id } : null;
	}
	if (role === 'hub') {
		const r = await db.query('SELECT hub_id FROM hubs WHERE token_hash = $1', [digest]);
		return r.rowCount ? { role, hub_id: r.rows[0].hub_id } : null;
	}
	if (role === 'node') {
		const r = await db.query('SELECT node_id FROM nodes WHERE token_hash = $1 AND NOT deleted', [digest]);
		return r.rowCount ? { role, node_id: r.rows[0].node_id } : null;
	}
	return null;
}

module.exports = {
	register, registrationCurrent, enroll, nodeHoldsToken, createHub, deleteHub, listHubs, createEnrollmentToken, deleteEnrollmentToken, deleteNode,
	changes, listNodes, getNode, recordHealth, metrics, lookupToken, toApi,
};
