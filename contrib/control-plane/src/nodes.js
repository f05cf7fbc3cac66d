// The nodes table: one row per WireGuard public key. node_id is the node's stable
// identity; it survives address, endpoint and label changes (and a key rotation when
// the node sends its known node_id).
'use strict';

const crypto = require('node:crypto');

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nodes (
	node_id uuid PRIMARY KEY,
	wireguard_public_key text NOT NULL UNIQUE,
	hostname text NOT NULL,
	interface_name text NOT NULL,
	wireguard_address text[] NOT NULL,
	hub_endpoint text NOT NULL,
	labels jsonb NOT NULL DEFAULT '{}',
	wgn_version text,
	client_registered_at text,
	first_registered_at timestamptz NOT NULL DEFAULT now(),
	registered_at timestamptz NOT NULL DEFAULT now()
)`;

async function ensureSchema(pool) {
	await pool.query(SCHEMA);
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
		first_registered_at: row.first_registered_at.toISOString(),
		registered_at: row.registered_at.toISOString(),
	};
}

// Inserts or updates the node; returns {created, node}. Runs in one transaction so
// that two registrations of the same key cannot both insert.
async function upsertNode(pool, reg) {
	const client = await pool.connect();
	try {
		await client.query('BEGIN');
		let existing = await client.query(
			'SELECT node_id FROM nodes WHERE wireguard_public_key = $1 FOR UPDATE',
			[reg.wireguard_public_key]);
		if (existing.rowCount === 0 && reg.node_id) {
			// A known node with a new key: a key rotation keeps the identity.
			existing = await client.query(
				'SELECT node_id FROM nodes WHERE node_id = $1 FOR UPDATE', [reg.node_id]);
		}
		const values = [reg.wireguard_public_key, reg.hostname, reg.interface_name,
			reg.wireguard_address, reg.hub_endpoint, JSON.stringify(reg.labels),
			reg.wgn_version, reg.client_registered_at];
		let row;
		let created = false;
		if (existing.rowCount > 0) {
			row = (await client.query(
				`UPDATE nodes SET wireguard_public_key = $1, hostname = $2, interface_name = $3,
				 wireguard_address = $4, hub_endpoint = $5, labels = $6, wgn_version = $7,
				 client_registered_at = $8, registered_at = now()
				 WHERE node_id = $9 RETURNING *`,
				[...values, existing.rows[0].node_id])).rows[0];
		} else {
			// A node that lost its control plane keeps the node_id it already has.
			const nodeId = reg.node_id ?? crypto.randomUUID();
			row = (await client.query(
				`INSERT INTO nodes (wireguard_public_key, hostname, interface_name,
				 wireguard_address, hub_endpoint, labels, wgn_version, client_registered_at,
				 node_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
				[...values, nodeId])).rows[0];
			created = true;
		}
		await client.query('COMMIT');
		return { created, node: toApi(row) };
	} catch (e) {
		await client.query('ROLLBACK').catch(() => {});
		throw e;
	} finally {
		client.release();
	}
}

async function listNodes(pool) {
	const r = await pool.query('SELECT * FROM nodes ORDER BY first_registered_at, node_id');
	return r.rows.map(toApi);
}

async function getNode(pool, nodeId) {
	const r = await pool.query('SELECT * FROM nodes WHERE node_id = $1', [nodeId]);
	return r.rowCount ? toApi(r.rows[0]) : null;
}

module.exports = { ensureSchema, upsertNode, listNodes, getNode };
