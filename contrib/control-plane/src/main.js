// wgn reference control plane: node registration as a DBOS durable workflow.
//
// POST /api/v1/nodes/register runs the workflow `registerNode` under the workflow ID
// the client sends in `dbos-idempotency-key`, so a retried request runs it once and
// gets the recorded result back. Configuration is in the environment; see README.md.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const express = require('express');
const { Pool } = require('pg');
const { DBOS } = require('@dbos-inc/dbos-sdk');
const { validateRegistration } = require('./validate');
const nodes = require('./nodes');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

function env(name, fallback) {
	const v = process.env[name];
	return v === undefined || v === '' ? fallback : v;
}

// The expected token, from WGN_CP_TOKEN_FILE or WGN_CP_TOKEN; null means no auth,
// which has to be asked for with WGN_CP_NO_AUTH=1.
function loadToken() {
	const file = env('WGN_CP_TOKEN_FILE');
	if (file) return fs.readFileSync(file, 'utf8').trim();
	const token = env('WGN_CP_TOKEN');
	if (token) return token;
	if (env('WGN_CP_NO_AUTH') === '1') return null;
	throw new Error('set WGN_CP_TOKEN_FILE or WGN_CP_TOKEN (or WGN_CP_NO_AUTH=1 to run without auth)');
}

// Compares digests, so neither the length nor a prefix of the token leaks in timing.
function tokenMatches(expected, header) {
	const m = /^Bearer ([\x21-\x7e]+)$/.exec(header ?? '');
	if (!m) return false;
	const a = crypto.createHash('sha256').update(m[1]).digest();
	const b = crypto.createHash('sha256').update(expected).digest();
	return crypto.timingSafeEqual(a, b);
}

const databaseUrl = env('DATABASE_URL', 'postgresql://postgres@127.0.0.1:5432/wgn_cp');
const pool = new Pool({ connectionString: databaseUrl });
pool.on('error', (e) => console.error(`wgn-cp: database: ${e.message}`));

async function registerNodeWorkflow(registration) {
	return await DBOS.runStep(() => nodes.upsertNode(pool, registration), { name: 'upsertNode' });
}
const registerNode = DBOS.registerWorkflow(registerNodeWorkflow, { name: 'registerNode' });

function makeApp(token) {
	const app = express();
	app.disable('x-powered-by');
	app.get('/healthz', (_req, res) => res.json({ ok: true }));

	const api = express.Router();
	api.use((req, res, next) => {
		if (token === null || tokenMatches(token, req.get('authorization'))) return next();
		res.set('WWW-Authenticate', 'Bearer').status(401).json({ error: 'invalid or missing bearer token' });
	});
	api.use(express.json({ limit: '64kb' }));

	api.post('/nodes/register', async (req, res, next) => {
		try {
			const key = req.get('dbos-idempotency-key');
			if (!key || !IDEMPOTENCY_KEY.test(key))
				return res.status(400).json({ error: 'missing or malformed dbos-idempotency-key header' });
			if (!req.is('application/json'))
				return res.status(400).json({ error: 'the body must be application/json' });
			const v = validateRegistration(req.body);
			if (!v.registration) return res.status(v.status).json({ error: v.error });
			const handle = await DBOS.startWorkflow(registerNode, { workflowID: key })(v.registration);
			const out = await handle.getResult();
			console.log(`wgn-cp: registered ${out.node.node_id} (${out.node.hostname}/${out.node.interface_name}) workflow ${key}`);
			res.status(out.created ? 201 : 200).json({ ...out.node, workflow_id: key });
		} catch (e) {
			next(e);
		}
	});

	api.get('/nodes', async (_req, res, next) => {
		try {
			res.json({ nodes: await nodes.listNodes(pool) });
		} catch (e) {
			next(e);
		}
	});

	api.get('/nodes/:id', async (req, res, next) => {
		try {
			if (!UUID.test(req.params.id)) return res.status(404).json({ error: 'no such node' });
			const node = await nodes.getNode(pool, req.params.id);
			if (!node) return res.status(404).json({ error: 'no such node' });
			res.json(node);
		} catch (e) {
			next(e);
		}
	});

	app.use('/api/v1', api);
	app.use((_req, res) => res.status(404).json({ error: 'not found' }));
	// Body-parser errors carry their status (400 malformed JSON, 413 too large).
	app.use((err, _req, res, _next) => {
		const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
		if (status === 500) console.error(`wgn-cp: ${err.stack ?? err}`);
		res.status(status).json({ error: status === 500 ? 'internal error' : err.message });
	});
	return app;
}

// DBOS keeps its workflow state in a database of its own beside the application's,
// and creates it on launch.
function systemDatabaseUrl(appUrl) {
	const u = new URL(appUrl);
	u.pathname = `${u.pathname.replace(/\/$/, '')}_dbos_sys`;
	return u.toString();
}

async function main() {
	const token = loadToken();
	await nodes.ensureSchema(pool);
	DBOS.setConfig({
		name: 'wgn-control-plane',
		applicationVersion: '0.1.0',
		systemDatabaseUrl: env('DBOS_SYSTEM_DATABASE_URL', systemDatabaseUrl(databaseUrl)),
		logLevel: env('WGN_CP_LOG_LEVEL', 'warn'),
	});
	await DBOS.launch();
	const host = env('WGN_CP_HOST', '127.0.0.1');
	const port = Number(env('WGN_CP_PORT', '8080'));
	const app = makeApp(token);
	const servers = [app.listen(port, host, () => console.log(`wgn-cp: listening on ${host}:${port}`))];
	// TLS of its own, for tests of wgn's certificate checks; in production a proxy
	// in front usually does this.
	const cert = env('WGN_CP_TLS_CERT');
	if (cert) {
		const tlsPort = Number(env('WGN_CP_TLS_PORT', '8443'));
		const options = { cert: fs.readFileSync(cert), key: fs.readFileSync(env('WGN_CP_TLS_KEY')) };
		servers.push(https.createServer(options, app).listen(tlsPort, host, () =>
			console.log(`wgn-cp: listening on ${host}:${tlsPort} (TLS)`)));
	}
	for (const server of servers)
		server.on('error', (e) => {
			console.error(`wgn-cp: ${e.message}`);
			process.exit(1);
		});
	const stop = async () => {
		for (const server of servers) server.close();
		await DBOS.shutdown();
		await pool.end();
		process.exit(0);
	};
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
}

main().catch((e) => {
	console.error(`wgn-cp: ${e.message}`);
	process.exit(1);
});
