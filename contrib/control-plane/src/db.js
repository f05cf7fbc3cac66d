// The application's PostgreSQL pool, and what a database error means for a client.
//
// A pg client that loses its server emits `error`; without a listener that is an
// uncaught exception and the process exits (what happened to the wave-1 app when
// PostgreSQL restarted under load). Every client, idle or checked out, gets a
// listener here, and the pool's own `error` event is handled too. While the database
// is away the app answers 503 with Retry-After instead of waiting on it.
'use strict';

const { Pool } = require('pg');

// An error the client sees with its HTTP status: 4xx carry their message.
class ApiError extends Error {
	constructor(status, message, extra) {
		super(message);
		this.status = status;
		if (extra) Object.assign(this, extra);
	}
}

// SQLSTATE classes and node errors that say "the database is not there (now)",
// where the same request later can succeed.
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND',
	'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', '57P01', '57P02', '57P03', '53300', '40001', '40P01']);

function isTransient(e) {
	if (!e || typeof e !== 'object') return false;
	if (e instanceof ApiError) return false;
	const code = typeof e.code === 'string' ? e.code : '';
	if (TRANSIENT_CODES.has(code) || code.startsWith('08')) return true;
	const msg = String(e.message ?? '');
	return /Connection terminated|connection timeout|Client has encountered a connection error|terminating connection|the database system is (starting up|shutting down|in recovery)|Connection closed|not queryable/i
		.test(msg);
}

class Database {
	constructor(url, { max = 10, log = console.error } = {}) {
		this.log = log;
		this.down = false;
		this.downSince = 0;
		this.pool = new Pool({
			connectionString: url, max,
			// Also how long a request may queue for a free connection.
			connectionTimeoutMillis: 15000,
			idleTimeoutMillis: 10000,
		});
		this.pool.on('error', (e) => this.failed(e));
		// A checked-out client's error would be unhandled: this listener stays on
		// every client for its whole life.
		this.pool.on('connect', (client) => client.on('error', (e) => this.failed(e)));
	}

	failed(e) {
		if (!this.down) this.log(`wgn-cp: database: ${e.message}`);
		if (isTransient(e) || /terminat|ended/i.test(String(e.message))) {
			if (!this.down) this.downSince = Date.now();
			this.down = true;
			this.probeSoon();
		}
	}

	// While down, a probe every 500 ms decides when requests may use the database again.
	probeSoon() {
		if (this.probeTimer) return;
		this.probeTimer = setTimeout(async () => {
			this.probeTimer = null;
			try {
				await this.pool.query('SELECT 1');
				if (this.down) this.log('wgn-cp: database: back');
				this.down = false;
			} catch (e) {
				this.down = true;
				this.probeSoon();
			}
		}, 500);
		this.probeTimer.unref();
	}

	async query(text, values) {
		try {
			return await this.pool.query(text, values);
		} catch (e) {
			if (isTransient(e)) this.failed(e);
			throw e;
		}
	}

	// Runs fn(client) in one transaction; transient failures are retried (attempts in
	// all), so a connection lost at the wrong moment costs the caller nothing. fn must
	// be safe to run again: it runs whole or not at all.
	async transaction(fn, { attempts = 3 } = {}) {
		for (let attempt = 1; ; attempt++) {
			let client;
			try {
				client = await this.pool.connect();
			} catch (e) {
				if (isTransient(e)) this.failed(e);
				if (isTransient(e) && attempt < attempts) {
					await sleep(100 * attempt);
					continue;
				}
				throw e;
			}
			let broken = false;
			try {
				await client.query('BEGIN');
				const out = await fn(client);
				await client.query('COMMIT');
				return out;
			} catch (e) {
				broken = isTransient(e);
				await client.query('ROLLBACK').catch(() => { broken = true; });
				if (broken) this.failed(e);
				// A unique violation means a concurrent transaction inserted the same
				// thing (the same node, the same enrollment): run again, and see it.
				const again = broken || e.code === '23505';
				if (!again || attempt >= attempts) throw e;
			} finally {
				client.release(broken);
			}
			await sleep(100 * attempt);
		}
	}

	async end() {
		clearTimeout(this.probeTimer);
		await this.pool.end();
	}
}

function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

module.exports = { Database, ApiError, isTransient, sleep };
