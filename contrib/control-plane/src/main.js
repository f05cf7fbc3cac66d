// wgn reference control plane: enrollment and registration as DBOS durable workflows
// on PostgreSQL, a change feed for hubs, health reports. Configuration is in the
// environment; README.md lists every variable and endpoint.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const { DBOS } = require('@dbos-inc/dbos-sdk');
const { ApiError, Database } = require('./db');
const { Feed } = require('./feed');
const { ensureSchema } = require('./schema');
const { makeApp } = require('./app');
const ip = require('./ip');
const nodes = require('./nodes');
const tokens = require('./tokens');

function env(name, fallback) {
	const v = process.env[name];
	return v === undefined || v === '' ? fallback : v;
}

// A token from NAME_FILE (wins) or NAME, or null.
function secret(name) {
	const file = env(`${name}_FILE`);
	if (file) {
		const t = fs.readFileSync(file, 'utf8').trim();
		if (!t) throw new Error(`${name}_FILE ${file} is empty`);
		return t;
	}
	return env(name, null);
}

function number(name, def, min, max) {
	const v = Number(env(name, String(def)));
	if (!Number.isInteger(v) || v < min || v > max)
		throw new Error(`${name} must be an integer from ${min} to ${max}`);
	return v;
}

function config() {
	const admin = secret('WGN_CP_ADMIN_TOKEN');
	const shared = secret('WGN_CP_TOKEN');
	const noAuth = env('WGN_CP_NO_AUTH') === '1';
	if (!admin && !shared && !noAuth)
		throw new Error('set WGN_CP_ADMIN_TOKEN_FILE (and WGN_CP_TOKEN_FILE for wave-1 registration), ' +
			'or WGN_CP_NO_AUTH=1 to register without a token');
	if (admin && shared && admin === shared)
		throw new Error('the admin token and the shared registration token must differ');
	const pools = env('WGN_CP_POOLS', '10.0.0.0/24,fd00::/64').split(',').map((p) => ip.parsePool(p));
	for (let i = 0; i < pools.length; i++)
		for (let j = 0; j < i; j++)
			if (ip.contains(pools[i], pools[j].family, pools[j].network) ||
			    ip.contains(pools[j], pools[i].family, pools[i].network))
				throw new Error(`WGN_CP_POOLS: ${pools[j].text} and ${pools[i].text} overlap`);
	return {
		adminDigest: admin ? tokens.sha256(admin) : null,
		sharedDigest: shared ? tokens.sha256(shared) : null,
		noAuth,
		// Node tokens are derived with this key (tokens.js); without an admin token
		// it lives only as long as the process.
		nodeTokenKey: admin
			? crypto.createHmac('sha256', admin).update('wgn-cp node token key').digest()
			: crypto.randomBytes(32),
		pools,
		maxInFlight: number('WGN_CP_MAX_IN_FLIGHT', 128, 1, 100000),
		maxWaiters: number('WGN_CP_MAX_WAITERS', 10000, 0, 1000000),
		requestTimeoutMs: number('WGN_CP_REQUEST_TIMEOUT', 8, 1, 600) * 1000,
		vmid: env('DBOS__VMID', 'local'),
	};
}

// DBOS keeps its workflow state in a database of its own beside the application's,
// and creates it on launch.
function systemDatabaseUrl(appUrl) {
	const u = new URL(appUrl);
	u.pathname = `${u.pathname.replace(/\/$/, '')}_dbos_sys`;
	return u.toString();
}

async function main() {
	const cfg = config();
	const databaseUrl = env('DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/wgn_cp');
	const db = new Database(databaseUrl, { max: number('WGN_CP_DB_POOL_MAX', 10, 1, 1000) });
	await ensureSchema(db);
	const feed = new Feed(databaseUrl, { onLost: (e) => db.failed(e) });
	await feed.start();

	// Each workflow is one step: one transaction that is safe to run again. A refusal
	// (4xx) is the workflow's output {error}, not a thrown error: it is answered, and
	// the next request with the same key runs the workflow again (app.js).
	const refusal = async (fn) => {
		try {
			return await fn();
		} catch (e) {
			if (e instanceof ApiError && e.status < 500) return { error: { status: e.status, message: e.message } };
			throw e;
		}
	};
	// The workflows whose function runs in this process now (app.js resumes only
	// pending workflows that run nowhere).
	const executing = new Set();
	const tracked = (fn) => async (...args) => {
		const id = DBOS.workflowID;
		executing.add(id);
		try {
			return await fn(...args);
		} finally {
			executing.delete(id);
		}
	};
	const register = DBOS.registerWorkflow(tracked(async (reg, principal) =>
		DBOS.runStep(() => refusal(() => nodes.register(db, reg, principal, cfg.pools)), { name: 'upsertNode' })),
	{ name: 'registerNode' });
	const enroll = DBOS.registerWorkflow(tracked(async (inp, tokenId) => {
		const workflowId = DBOS.workflowID;
		const nodeTokenHash = tokens.sha256(tokens.nodeToken(cfg.nodeTokenKey, workflowId));
		return DBOS.runStep(() => refusal(() =>
			nodes.enroll(db, inp, { workflowId, tokenId, nodeTokenHash, pools: cfg.pools })), { name: 'enrollNode' });
	}), { name: 'enrollNode' });

	DBOS.setConfig({
		name: 'wgn-control-plane',
		applicationVersion: '0.2.0',
		systemDatabaseUrl: env('DBOS_SYSTEM_DATABASE_URL', systemDatabaseUrl(databaseUrl)),
		logLevel: env('WGN_CP_LOG_LEVEL', 'warn'),
	});
	await DBOS.launch();

	const host = env('WGN_CP_HOST', '127.0.0.1');
	const port = Number(env('WGN_CP_PORT', '8080'));
	const app = makeApp({ db, feed, cfg, executing, workflows: { register, enroll } });
	const servers = [app.listen(port, host, () =>
		console.log(`wgn-cp: ${cfg.vmid} listening on ${host}:${port}, pools ${cfg.pools.map((p) => p.text).join(', ')}`))];
	// TLS of its own, for tests of wgn's certificate checks; in production a proxy
	// in front usually does this.
	const cert = env('WGN_CP_TLS_CERT');
	if (cert) {
		const tlsPort = Number(env('WGN_CP_TLS_PORT', '8443'));
		const options = { cert: fs.readFileSync(cert), key: fs.readFileSync(env('WGN_CP_TLS_KEY')) };
		servers.push(https.createServer(options, app).listen(tlsPort, host, () =>
			console.log(`wgn-cp: listening on ${host}:${tlsPort} (TLS)`)));
	}
	for (const server of servers) {
		// Long polls last up to 60 s. Idle keep-alive connections are kept longer than
		// clients and load balancers keep theirs (60 s is usual), so that the client
		// closes them first and never sends a request on a socket the server is closing.
		server.requestTimeout = 120000;
		server.keepAliveTimeout = 65000;
		server.headersTimeout = 66000;
		server.on('error', (e) => {
			console.error(`wgn-cp: ${e.message}`);
			process.exit(1);
		});
	}
	let stopping = false;
	const stop = async () => {
		if (stopping) return;
		stopping = true;
		for (const server of servers) {
			server.close();
			server.closeAllConnections?.();
		}
		await feed.stop();
		await DBOS.shutdown().catch(() => {});
		await db.end().catch(() => {});
		process.exit(0);
	};
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
}

main().catch((e) => {
	console.error(`wgn-cp: ${e.message}`);
	process.exit(1);
});
