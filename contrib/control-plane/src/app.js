// The HTTP API (README.md lists every endpoint and the role each one needs).
'use strict';

const compression = require('compression');
const express = require('express');
const { DBOS } = require('@dbos-inc/dbos-sdk');
const { ApiError, isTransient } = require('./db');
const nodes = require('./nodes');
const tokens = require('./tokens');
const validate = require('./validate');

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;
const FAILED = new Set(['ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED', 'RETRIES_EXCEEDED']);

function withTimeout(p, ms) {
	let timer;
	return Promise.race([
		p.finally(() => clearTimeout(timer)),
		new Promise((_, reject) => {
			timer = setTimeout(() => reject(new ApiError(503, 'the request did not finish in time; retry it',
				{ retryAfter: 1 })), ms);
		}),
	]);
}

// Runs workflow `wf` (registered as `name`) under the workflow ID `key`, once:
// - a finished workflow answers with its recorded result;
// - a workflow that failed (a refusal, recorded as its output {error}, or a database
//   that stayed away through the step's retries) committed nothing, and is run again:
//   a failure is never the recorded answer to every later retry of the same request;
// - a finished workflow whose answer stale(output) says is no longer true is run again;
// - a workflow left pending by an instance that stopped (this one in an earlier life,
//   or another one silent for orphanMs = 5 s, when these workflows take milliseconds)
//   is resumed, here or by any instance; its step is safe to run twice.
// `executing` holds the IDs of the workflows whose function runs in this process.
function workflowRunner({ db, vmid, timeoutMs, executing, orphanMs = 5000 }) {
	const RECHECK = Symbol('recheck');
	async function run(wf, name, key, args, stale, deadline) {
		for (;;) {
			if (db.down) throw new ApiError(503, 'the database is unavailable', { retryAfter: 2 });
			let st = await DBOS.getWorkflowStatus(key);
			if (st && st.workflowName !== name)
				throw new ApiError(409, `dbos-idempotency-key ${key} names a request of another kind`);
			// Waiting for another instance's pending workflow: look again when it would
			// count as orphaned.
			let recheck = null;
			if (st && (FAILED.has(st.status) || (st.status === 'SUCCESS' &&
			    (st.output?.error || (stale && await stale(st.output)))))) {
				await DBOS.deleteWorkflow(key);
				st = null;
			} else if (st && st.status === 'PENDING' && !executing.has(key)) {
				const age = Date.now() - Number(st.updatedAt ?? st.createdAt);
				if (st.executorId === vmid || age > orphanMs) {
					console.log(`wgn-cp: resuming workflow ${key}, left pending by ${st.executorId}`);
					await DBOS.resumeWorkflow(key);
				} else {
					recheck = orphanMs - age + 100;
				}
			}
			const handle = st ? DBOS.retrieveWorkflow(key) : await DBOS.startWorkflow(wf, { workflowID: key })(...args);
			const result = handle.getResult();
			result.catch(() => {});
			const out = recheck === null ? await result :
				await Promise.race([result, new Promise((r) => setTimeout(() => r(RECHECK), recheck))]);
			if (out === RECHECK) {
				if (Date.now() >= deadline) return RECHECK;
				continue;
			}
			if (out?.error) throw new ApiError(out.error.status, out.error.message);
			return out;
		}
	}
	return (wf, name, key, args, stale) =>
		withTimeout(run(wf, name, key, args, stale, Date.now() + timeoutMs), timeoutMs);
}

function makeApp(ctx) {
	const { db, feed, cfg, workflows } = ctx;
	const runWorkflow = workflowRunner({ db, vmid: cfg.vmid, timeoutMs: cfg.requestTimeoutMs, executing: ctx.executing });
	const app = express();
	app.disable('x-powered-by');
	app.set('etag', false);
	// Answers over 1 KiB are compressed for a client that accepts it: a page of the
	// change feed (1,000 nodes, ~440 KB of JSON) goes as ~75 KB of gzip.
	app.use(compression());
	let inFlight = 0;
	let waiting = 0;

	// A change wakes every waiting hub at once, and most of them ask the same question
	// (the same since and limit): one query answers all of them. Only woken long polls
	// share: a query that began before the change may miss it, and then the waiter
	// finds the feed's head beyond its answer and asks again at once.
	const asking = new Map();
	let feedQueries = 0;
	function query(since, limit) {
		feedQueries++;
		return nodes.changes(db, since, limit);
	}
	function changes(since, limit) {
		const k = `${since}:${limit}`;
		let p = asking.get(k);
		if (!p) {
			p = query(since, limit).finally(() => asking.delete(k));
			asking.set(k, p);
		}
		return p;
	}

	app.get('/healthz', (_req, res) =>
		res.status(db.down ? 503 : 200).json({ ok: !db.down, database: db.down ? 'unavailable' : 'ok',
			feed_listening: feed.listening, in_flight: inFlight, waiting, feed_queries: feedQueries }));

	// Backpressure: at most maxInFlight requests at work at once; a long poll that is
	// only waiting does not count (it is bounded by maxWaiters instead).
	function slot(req, res, next) {
		if (inFlight >= cfg.maxInFlight) {
			res.set('Retry-After', '1');
			return res.status(503).json({ error: 'the control plane is saturated; retry later' });
		}
		inFlight++;
		let held = true;
		let closed = false;
		req.releaseSlot = () => {
			if (held) inFlight--;
			held = false;
		};
		// A long poll at work again; not when its client went away meanwhile (the
		// slot would never be given back).
		req.takeSlot = () => {
			if (!held && !closed) inFlight++;
			held = !closed;
		};
		res.on('close', () => {
			closed = true;
			req.releaseSlot();
		});
		next();
	}

	// Who is asking: {role: admin|shared|enrollment|hub|node, ...}, or 401.
	async function authenticate(req, res, next) {
		try {
			const token = tokens.bearer(req.get('authorization'));
			if (token === null) {
				if (cfg.noAuth) {
					req.principal = { role: 'shared' };
					return next();
				}
				throw new ApiError(401, 'invalid or missing bearer token');
			}
			const digest = tokens.sha256(token);
			if (tokens.sameDigest(digest, cfg.adminDigest)) req.principal = { role: 'admin' };
			else if (tokens.sameDigest(digest, cfg.sharedDigest)) req.principal = { role: 'shared' };
			else {
				if (db.down) throw new ApiError(503, 'the database is unavailable', { retryAfter: 2 });
				req.principal = await nodes.lookupToken(db, token);
			}
			if (!req.principal) throw new ApiError(401, 'invalid or missing bearer token');
			next();
		} catch (e) {
			next(e);
		}
	}

	function need(...roles) {
		return (req, _res, next) => {
			if (roles.includes(req.principal.role)) return next();
			next(new ApiError(403, `a ${req.principal.role} token cannot do this (needs ${roles.join(' or ')})`));
		};
	}

	function idempotencyKey(req) {
		const key = req.get('dbos-idempotency-key');
		if (!key || !IDEMPOTENCY_KEY.test(key))
			throw new ApiError(400, 'missing or malformed dbos-idempotency-key header');
		return key;
	}

	function jsonBody(req) {
		if (!req.is('application/json')) throw new ApiError(400, 'the body must be application/json');
		return req.body;
	}

	function check(fn, body, ...rest) {
		const v = validate.run((b) => fn(b, ...rest), body);
		if (v.error) throw new ApiError(v.status, v.error);
		return v.value;
	}

	function uuidParam(req, what = 'node') {
		const id = req.params.id;
		if (!validate.UUID.test(id)) throw new ApiError(404, `no such ${what}`);
		return id.toLowerCase();
	}

	function intParam(req, name, { def, min, max }) {
		const v = req.query[name];
		if (v === undefined) return def;
		if (typeof v !== 'string' || !/^[0-9]{1,15}$/.test(v) || Number(v) < min || Number(v) > max)
			throw new ApiError(400, `${name} must be an integer from ${min} to ${max}`);
		return Number(v);
	}

	const h = (fn) => async (req, res, next) => {
		try {
			await fn(req, res);
		} catch (e) {
			next(e);
		}
	};

	const api = express.Router();
	api.use(slot, authenticate, express.json({ limit: '64kb' }));

	api.post('/nodes/register', need('shared', 'node'), h(async (req, res) => {
		const key = idempotencyKey(req);
		const reg = check(validate.registration, jsonBody(req));
		const p = req.principal.role === 'node' ? { role: 'node', node_id: req.principal.node_id } : { role: 'shared' };
		const out = await runWorkflow(workflows.register, 'registerNode', key, [reg, p],
			async (recorded) => !(await nodes.registrationCurrent(db, recorded.node.node_id, reg)));
		console.log(`wgn-cp: registered ${out.node.node_id} (${out.node.hostname}/${out.node.interface_name}) workflow ${key}`);
		res.status(out.created ? 201 : 200).json({ ...out.node, workflow_id: key });
	}));

	api.post('/nodes/enroll', need('enrollment'), h(async (req, res) => {
		const key = idempotencyKey(req);
		const inp = check(validate.enrollment, jsonBody(req));
		const tokenId = req.principal.token_id;
		const token = tokens.nodeToken(cfg.nodeTokenKey, key);
		let out;
		for (let round = 0; ; round++) {
			out = await runWorkflow(workflows.enroll, 'enrollNode', key, [inp, tokenId]);
			if (out.enrollment_token_id !== tokenId)
				throw new ApiError(409, 'this request (dbos-idempotency-key) enrolled a node with another enrollment token');
			const holds = await nodes.nodeHoldsToken(db, out.node_id, tokens.sha256(token));
			if (holds === 'yes') break;
			if (holds === 'other' || round > 0)
				throw new ApiError(409, `node ${out.node_id} was enrolled by this request, but its token cannot be issued again`);
			// The node this request enrolled was deleted since: a new enrollment.
			await DBOS.deleteWorkflow(key);
		}
		console.log(`wgn-cp: enrolled ${out.node_id} (${inp.hostname}) as ${out.wireguard_address.join(', ')} workflow ${key}`);
		// The hubs as they are now, not as the workflow recorded them: a node that
		// enrolled before any hub existed (wgn exits 75 and keeps its key) gets them by
		// sending the same request again once the administrator has added one.
		res.status(201).json({ node_id: out.node_id, wireguard_address: out.wireguard_address,
			hubs: await nodes.listHubs(db), node_token: token, workflow_id: key });
	}));

	api.get('/nodes', need('admin', 'hub'), h(async (req, res) => {
		const limit = intParam(req, 'limit', { def: 1000, min: 1, max: 10000 });
		if (req.query.since === undefined) {
			if (req.principal.role !== 'admin')
				throw new ApiError(403, 'a hub token reads the change feed only (since=REV)');
			if (req.query.wait !== undefined) throw new ApiError(400, 'wait goes with since (the change feed)');
			const status = req.query.status;
			if (status !== undefined && (typeof status !== 'string' ||
			    ![...validate.STATUSES, 'unknown'].includes(status)))
				throw new ApiError(400, `status must be one of ${[...validate.STATUSES, 'unknown'].join(', ')}`);
			const cursor = req.query.cursor;
			if (cursor !== undefined && (typeof cursor !== 'string' || !validate.UUID.test(cursor)))
				throw new ApiError(400, 'cursor must be the next_cursor of an earlier page');
			return res.json(await nodes.listNodes(db, { cursor: cursor?.toLowerCase(), limit, status }));
		}
		const since = intParam(req, 'since', { def: 0, min: 0, max: Number.MAX_SAFE_INTEGER });
		const wait = intParam(req, 'wait', { def: 0, min: 0, max: 60 });
		const deadline = Date.now() + wait * 1000;
		let out = await query(since, limit);
		if (out.nodes.length === 0 && wait > 0) {
			if (waiting >= cfg.maxWaiters)
				throw new ApiError(503, 'too many long polls wait on this instance; retry later', { retryAfter: 1 });
			const aborter = new AbortController();
			res.on('close', () => aborter.abort());
			waiting++;
			req.releaseSlot();
			try {
				while (out.nodes.length === 0 && !aborter.signal.aborted) {
					const left = deadline - Date.now();
					if (left <= 0) break;
					const woken = await feed.wait(out.revision, left, aborter.signal);
					if (!woken || aborter.signal.aborted) break;
					out = await changes(since, limit);
				}
			} finally {
				waiting--;
				req.takeSlot();
			}
		}
		res.json(out);
	}));

	api.get('/nodes/:id', h(async (req, res) => {
		const id = uuidParam(req);
		const p = req.principal;
		if (p.role !== 'admin' && !(p.role === 'node' && p.node_id === id))
			throw new ApiError(403, p.role === 'node' ? 'a node token reads its own node only' : `a ${p.role} token cannot read nodes`);
		const node = await nodes.getNode(db, id);
		if (!node) throw new ApiError(404, 'no such node');
		res.json(node);
	}));

	api.delete('/nodes/:id', need('admin'), h(async (req, res) => {
		const id = uuidParam(req);
		if (!(await nodes.deleteNode(db, id))) throw new ApiError(404, 'no such node');
		console.log(`wgn-cp: deleted ${id}`);
		res.status(204).end();
	}));

	api.post('/nodes/:id/health', need('node'), h(async (req, res) => {
		const id = uuidParam(req);
		if (req.principal.node_id !== id) throw new ApiError(403, 'a node token reports for its own node only');
		const v = check(validate.health, jsonBody(req));
		const out = await nodes.recordHealth(db, id, v);
		if (!out) throw new ApiError(404, 'no such node');
		res.json(out);
	}));

	api.post('/hubs', need('admin'), h(async (req, res) => {
		const hub = check(validate.hub, jsonBody(req), cfg.pools);
		const out = await nodes.createHub(db, hub);
		console.log(`wgn-cp: hub ${out.hub_id} (${out.endpoint}) created`);
		res.status(201).json(out);
	}));

	api.get('/hubs', need('admin'), h(async (_req, res) => {
		res.json({ hubs: await nodes.listHubs(db) });
	}));

	api.delete('/hubs/:id', need('admin'), h(async (req, res) => {
		const id = uuidParam(req, 'hub');
		if (!(await nodes.deleteHub(db, id))) throw new ApiError(404, 'no such hub');
		console.log(`wgn-cp: hub ${id} deleted`);
		res.status(204).end();
	}));

	api.delete('/enrollment-tokens/:id', need('admin'), h(async (req, res) => {
		const id = uuidParam(req, 'enrollment token');
		if (!(await nodes.deleteEnrollmentToken(db, id))) throw new ApiError(404, 'no such enrollment token');
		console.log(`wgn-cp: enrollment token ${id} revoked`);
		res.status(204).end();
	}));

	api.post('/enrollment-tokens', need('admin'), h(async (req, res) => {
		const t = check(validate.enrollmentToken, req.body === undefined ? {} : jsonBody(req));
		const out = await nodes.createEnrollmentToken(db, t);
		console.log(`wgn-cp: enrollment token ${out.token_id} created (max_uses ${out.max_uses})`);
		res.status(201).json(out);
	}));

	app.use('/api/v1', api);
	app.get('/metrics', slot, authenticate, need('admin'), h(async (_req, res) => {
		res.type('text/plain; version=0.0.4').send(await nodes.metrics(db, validate.STATUSES));
	}));
	app.use((_req, res) => res.status(404).json({ error: 'not found' }));
	app.use((err, req, res, _next) => {
		let status = err.status && err.status >= 400 && err.status < 600 ? err.status : 500;
		let message = err.message;
		if (status === 500 && isTransient(err)) {
			status = 503;
			message = 'the database is unavailable';
			err.retryAfter = 2;
		}
		if (status === 401) res.set('WWW-Authenticate', 'Bearer');
		if (status === 503 || status === 429) res.set('Retry-After', String(err.retryAfter ?? 1));
		if (status === 500) console.error(`wgn-cp: ${req.method} ${req.path}: ${err.stack ?? err}`);
		res.status(status).json({ error: status === 500 ? 'internal error' : message });
	});
	return app;
}

module.exports = { makeApp };
