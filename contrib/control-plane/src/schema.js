// The application's tables. Created (and a wave-1 `nodes` table upgraded) on start,
// under an advisory lock so that two instances starting at once do not race.
'use strict';

const SCHEMA = [
	`CREATE SEQUENCE IF NOT EXISTS revision`,
	`CREATE TABLE IF NOT EXISTS nodes (
		node_id uuid PRIMARY KEY,
		wireguard_public_key text NOT NULL,
		hostname text NOT NULL,
		interface_name text NOT NULL,
		wireguard_address text[] NOT NULL,
		hub_endpoint text NOT NULL,
		labels jsonb NOT NULL DEFAULT '{}',
		wgn_version text,
		client_registered_at text,
		first_registered_at timestamptz NOT NULL DEFAULT now(),
		registered_at timestamptz NOT NULL DEFAULT now()
	)`,
	// Wave 1 had one row per key for ever; a deleted node is now a tombstone that
	// keeps its key for the hubs, so the key is unique among live nodes only.
	`ALTER TABLE nodes DROP CONSTRAINT IF EXISTS nodes_wireguard_public_key_key`,
	`ALTER TABLE nodes
		ADD COLUMN IF NOT EXISTS revision bigint,
		ADD COLUMN IF NOT EXISTS deleted boolean NOT NULL DEFAULT false,
		ADD COLUMN IF NOT EXISTS token_hash bytea,
		ADD COLUMN IF NOT EXISTS enroll_workflow_id text,
		ADD COLUMN IF NOT EXISTS enrollment_token_id uuid,
		ADD COLUMN IF NOT EXISTS status text,
		ADD COLUMN IF NOT EXISTS last_seen timestamptz,
		ADD COLUMN IF NOT EXISTS health jsonb`,
	`UPDATE nodes SET revision = nextval('revision') WHERE revision IS NULL`,
	`ALTER TABLE nodes ALTER COLUMN revision SET NOT NULL`,
	`ALTER TABLE nodes ALTER COLUMN hub_endpoint DROP NOT NULL`,
	`CREATE UNIQUE INDEX IF NOT EXISTS nodes_live_key ON nodes (wireguard_public_key) WHERE NOT deleted`,
	`CREATE UNIQUE INDEX IF NOT EXISTS nodes_revision ON nodes (revision)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS nodes_token_hash ON nodes (token_hash)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS nodes_enroll_workflow ON nodes (enroll_workflow_id)`,
	`CREATE INDEX IF NOT EXISTS nodes_status ON nodes (status, node_id) WHERE NOT deleted`,
	`CREATE INDEX IF NOT EXISTS nodes_live ON nodes (node_id) WHERE NOT deleted`,
	`CREATE TABLE IF NOT EXISTS hubs (
		hub_id uuid PRIMARY KEY,
		token_hash bytea NOT NULL UNIQUE,
		public_key text NOT NULL UNIQUE,
		endpoint text NOT NULL,
		tunnel_address inet NOT NULL,
		allowed_ips text[] NOT NULL,
		persistent_keepalive integer,
		priority integer NOT NULL DEFAULT 0,
		created_at timestamptz NOT NULL DEFAULT now()
	)`,
	`CREATE TABLE IF NOT EXISTS enrollment_tokens (
		token_id uuid PRIMARY KEY,
		token_hash bytea NOT NULL UNIQUE,
		expires_at timestamptz,
		max_uses integer NOT NULL,
		uses integer NOT NULL DEFAULT 0,
		labels jsonb NOT NULL DEFAULT '{}',
		created_at timestamptz NOT NULL DEFAULT now()
	)`,
	// Every address of the pools that is taken: by an enrolled node, a registered
	// node whose address lies in a pool, or a hub's tunnel address. The primary key
	// is what keeps two instances from handing out one address twice.
	`CREATE TABLE IF NOT EXISTS allocations (
		address inet PRIMARY KEY,
		node_id uuid,
		hub_id uuid
	)`,
	`CREATE INDEX IF NOT EXISTS allocations_node ON allocations (node_id)`,
];

async function ensureSchema(db) {
	await db.transaction(async (c) => {
		await c.query("SELECT pg_advisory_xact_lock(hashtext('wgn-cp schema'))");
		for (const s of SCHEMA) await c.query(s);
	});
}

module.exports = { ensureSchema };
