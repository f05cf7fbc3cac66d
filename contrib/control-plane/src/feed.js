// Long polls of the change feed. Every node change commits a NOTIFY on the channel
// `wgn_nodes` with its revision. Each app instance listens on ONE dedicated
// connection and keeps its waiting requests in memory: a waiting request holds no
// database connection and no lock, only a timer and an entry in this list, so one
// instance can hold thousands of waiting hubs. A notification wakes every request
// that waits for a revision below it, on every instance.
'use strict';

const { Client } = require('pg');

const CHANNEL = 'wgn_nodes';

class Feed {
	// onLost(error): the listening connection failed (the database went away, most
	// likely; it is the one connection that is always open).
	constructor(url, { log = console.error, onLost = () => {} } = {}) {
		this.url = url;
		this.log = log;
		this.onLost = onLost;
		this.waiters = new Set();
		this.head = 0; // the highest revision notified
		this.client = null;
		this.stopped = false;
		this.backoff = 250;
	}

	async start() {
		await this.connect();
	}

	async connect() {
		if (this.stopped) return;
		const client = new Client({ connectionString: this.url, connectionTimeoutMillis: 3000 });
		client.on('error', (e) => this.lost(client, e));
		client.on('end', () => this.lost(client, new Error('connection ended')));
		client.on('notification', (n) => {
			const rev = Number(n.payload);
			if (Number.isFinite(rev) && rev > this.head) this.head = rev;
			this.wake((w) => !Number.isFinite(rev) || w.since < rev);
		});
		try {
			await client.connect();
			await client.query(`LISTEN ${CHANNEL}`);
		} catch (e) {
			client.removeAllListeners('end');
			client.end().catch(() => {});
			this.retry(e);
			return;
		}
		this.client = client;
		this.backoff = 250;
		// Whatever changed while nobody listened: every waiter looks again.
		this.wake(() => true);
	}

	lost(client, e) {
		if (this.client !== client) return;
		this.client = null;
		this.onLost(e);
		client.removeAllListeners('end');
		client.end().catch(() => {});
		if (!this.stopped) this.retry(e);
	}

	retry(e) {
		if (this.stopped || this.timer) return;
		this.log(`wgn-cp: feed listener: ${e.message}; reconnecting in ${this.backoff} ms`);
		this.timer = setTimeout(() => {
			this.timer = null;
			this.connect();
		}, this.backoff);
		this.backoff = Math.min(this.backoff * 2, 5000);
	}

	wake(pred) {
		for (const w of [...this.waiters]) {
			if (pred(w)) {
				this.waiters.delete(w);
				clearTimeout(w.timer);
				w.resolve(true);
			}
		}
	}

	// Resolves true when a change after revision `since` (the newest one the caller's
	// query saw) may have happened, or the listener reconnected; false when ms passed
	// or `signal` (the client going away) fired.
	wait(since, ms, signal) {
		return new Promise((resolve) => {
			// A change notified between the caller's query and now.
			if (this.head > since) return resolve(true);
			const w = { since, resolve };
			w.timer = setTimeout(() => {
				this.waiters.delete(w);
				resolve(false);
			}, ms);
			this.waiters.add(w);
			signal?.addEventListener('abort', () => {
				if (this.waiters.delete(w)) {
					clearTimeout(w.timer);
					resolve(false);
				}
			}, { once: true });
		});
	}

	get listening() {
		return this.client !== null;
	}

	async stop() {
		this.stopped = true;
		clearTimeout(this.timer);
		this.wake(() => true);
		const c = this.client;
		this.client = null;
		if (c) {
			c.removeAllListeners('end');
			await c.end().catch(() => {});
		}
	}
}

module.exports = { Feed, CHANNEL };
