// Shared by the control plane's tests (node --test): a real stack from
// scripts/test-stack (private PostgreSQL, two app instances on it), HTTP and SQL
// helpers. scripts/test starts one stack for all files and names it in
// CP_STACK_DIR; a file run alone starts (and stops) its own.
'use strict';

const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Client } = require('pg');

const ROOT = path.join(__dirname, '..');
const STACK = path.join(ROOT, 'scripts', 'test-stack');

function readEnv(dir) {
	const env = {};
	for (const line of fs.readFileSync(path.join(dir, 'env'), 'utf8').split('\n'))
		for (const m of line.matchAll(/([A-Z_0-9]+)=(\S+)/g)) env[m[1]] = m[2];
	return env;
}

function stackCmd(...args) {
	execFileSync(STACK, args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

class Stack {
	static async open() {
		const s = new Stack();
		if (process.env.CP_STACK_DIR) {
			s.dir = process.env.CP_STACK_DIR;
			s.own = false;
		} else {
			s.dir = fs.mkdtempSync('/tmp/wgn-cp-node.');
			fs.rmdirSync(s.dir);
			s.own = true;
			process.env.WGN_CP_POOLS ??= '10.0.0.0/16,fd00::/64';
			stackCmd('start', s.dir);
		}
		s.ensureApp(1);
		s.ensureApp(2);
		s.reload();
		s.pg = new Client({ host: s.env.PGHOST, port: Number(s.env.PGPORT), user: 'postgres', database: 'wgn_cp' });
		s.pg.on('error', () => {});
		await s.pg.connect();
		return s;
	}

	reload() {
		this.env = readEnv(this.dir);
		this.admin = fs.readFileSync(this.env.CP_ADMIN_TOKEN_FILE, 'utf8').trim();
		this.shared = fs.readFileSync(this.env.CP_TOKEN_FILE, 'utf8').trim();
	}

	url(n = 1) {
		return n === 1 ? this.env.CP_URL : this.env[`CP_URL_${n}`];
	}

	pid(n = 1) {
		const f = path.join(this.dir, n === 1 ? 'app.pid' : `app${n}.pid`);
		return fs.existsSync(f) ? Number(fs.readFileSync(f, 'utf8')) : null;
	}

	running(n = 1) {
		const pid = this.pid(n);
		if (!pid) return false;
		try {
			process.kill(pid, 0);
			return true;
		} catch {
			return false;
		}
	}

	ensureApp(n, env = {}) {
		if (this.running(n)) return;
		this.startApp(n, env);
	}

	startApp(n, env = {}) {
		execFileSync(STACK, ['start-app', this.dir, String(n)],
			{ stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
		this.reload();
	}

	stopApp(n) {
		stackCmd('stop-app', this.dir, String(n));
	}

	// PostgreSQL itself, through pg_ctl as test-stack runs it.
	pgCtl(action) {
		const bin = process.env.PGBIN ?? '/usr/lib/postgresql/15/bin';
		const args = ['-D', path.join(this.dir, 'pg'), '-w', '-t', '60'];
		if (action === 'stop') args.push('-m', 'fast', 'stop');
		else args.push('-l', path.join(this.dir, 'pg.log'), '-o',
			`-p ${this.env.PGPORT} -k ${this.dir}/sock -c listen_addresses=127.0.0.1 -c fsync=off`, 'start');
		const user = process.getuid() === 0 ? pgUser() : null;
		const cmd = user ? 'runuser' : path.join(bin, 'pg_ctl');
		const full = user ? ['-u', user, '--', path.join(bin, 'pg_ctl'), ...args] : args;
		execFileSync(cmd, full, { stdio: ['ignore', 'ignore', 'inherit'] });
	}

	async sql(text, values) {
		try {
			return await this.pg.query(text, values);
		} catch (e) {
			if (!/terminat|not queryable|Connection/i.test(e.message)) throw e;
			this.pg = new Client({ host: this.env.PGHOST, port: Number(this.env.PGPORT), user: 'postgres', database: 'wgn_cp' });
			this.pg.on('error', () => {});
			await this.pg.connect();
			return await this.pg.query(text, values);
		}
	}

	async sysSql(text, values) {
		const c = new Client({ host: this.env.PGHOST, port: Number(this.env.PGPORT), user: 'postgres',
			database: this.env.CP_SYS_DATABASE });
		await c.connect();
		try {
			return await c.query(text, values);
		} finally {
			await c.end();
		}
	}

	async close() {
		await this.pg.end().catch(() => {});
		if (this.own) stackCmd('stop', this.dir);
	}

	// Admin helpers.
	async hub(fields = {}) {
		const r = await request(this.url(), 'POST', '/api/v1/hubs', {
			token: this.admin,
			body: { public_key: wgKey(), endpoint: 'hub.example.com:51820', tunnel_address: '10.0.0.1', ...fields },
		});
		if (r.status !== 201) throw new Error(`POST /hubs: ${r.status} ${JSON.stringify(r.body)}`);
		return r.body;
	}

	async enrollmentToken(fields = {}) {
		const r = await request(this.url(), 'POST', '/api/v1/enrollment-tokens', { token: this.admin, body: fields });
		if (r.status !== 201) throw new Error(`POST /enrollment-tokens: ${r.status} ${JSON.stringify(r.body)}`);
		return r.body;
	}

	enroll(token, body = {}, { key = randomKey(), n = 1 } = {}) {
		return request(this.url(n), 'POST', '/api/v1/nodes/enroll', {
			token, key,
			body: { hostname: 'node', wireguard_public_key: wgKey(), interface_name: 'wg0', ...body },
		});
	}

	register(token, body = {}, { key = randomKey(), n = 1 } = {}) {
		return request(this.url(n), 'POST', '/api/v1/nodes/register', {
			token, key,
			body: { hostname: 'node', wireguard_public_key: wgKey(), interface_name: 'wg0',
				hub_endpoint: 'hub.example.com:51820', wireguard_address: ['172.16.0.10/24'], ...body },
		});
	}
}

function pgUser() {
	try {
		execFileSync('id', ['postgres'], { stdio: 'ignore' });
		return 'postgres';
	} catch {
		return 'nobody';
	}
}

// {status, headers, body}; body parsed when JSON.
async function request(base, method, p, { token, body, key, headers = {}, raw } = {}) {
	const h = { ...headers };
	if (token) h.authorization = `Bearer ${token}`;
	if (key) h['dbos-idempotency-key'] = key;
	let data;
	if (raw !== undefined) {
		data = raw;
		h['content-type'] ??= 'application/json';
	} else if (body !== undefined) {
		data = JSON.stringify(body);
		h['content-type'] = 'application/json';
	}
	const res = await fetch(base + p, { method, headers: h, body: data });
	const text = await res.text();
	let parsed = text;
	if ((res.headers.get('content-type') ?? '').includes('json')) parsed = text ? JSON.parse(text) : null;
	return { status: res.status, headers: res.headers, body: parsed };
}

function wgKey() {
	return crypto.randomBytes(32).toString('base64');
}

function randomKey() {
	return crypto.randomBytes(16).toString('hex');
}

module.exports = { Stack, request, wgKey, randomKey };
