#!/usr/bin/env node
// A small load generator for the control plane (contrib/control-plane): registrations
// or enrollments, each a new node (a fresh public key and idempotency key), at a fixed
// concurrency for a fixed time, spread round-robin over one or more app instances.
// Prints one JSON object: requests answered 2xx per second, p50/p99 of their latency,
// and every status seen. bench/cp.sh runs the matrix of RESULTS.md with it.
//
//   node bench/cp-load.js --kind register|enroll --urls URL[,URL...] --token-file FILE
//                         [--concurrency 8] [--duration 5]
//
// register uses the wave-1 shared token (a node's own address, 172.16.0.0/12, one per
// request); enroll uses an enrollment token with enough uses (the address comes from
// the control plane's pools). Nothing is retried: a 503 is counted, not hidden.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const { performance } = require('node:perf_hooks');

function args() {
	const a = { kind: 'register', concurrency: 8, duration: 5 };
	const argv = process.argv.slice(2);
	for (let i = 0; i < argv.length; i += 2) {
		const k = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
		if (argv[i + 1] === undefined) throw new Error(`${argv[i]} needs a value`);
		a[k] = argv[i + 1];
	}
	if (!['register', 'enroll'].includes(a.kind)) throw new Error('--kind is register or enroll');
	if (!a.urls || !a.tokenFile) throw new Error('--urls and --token-file are required');
	a.urls = a.urls.split(',');
	a.concurrency = Number(a.concurrency);
	a.duration = Number(a.duration);
	return a;
}

let seq = 0;
function body(kind) {
	const n = seq++;
	const b = {
		hostname: `bench-${process.pid}-${n}`,
		wireguard_public_key: crypto.randomBytes(32).toString('base64'),
		interface_name: 'wg0',
	};
	if (kind === 'register') {
		// 172.16.0.0/12, one host each, never .0 or .255 of a /24.
		const ip = 0xac100000 + Math.floor(n / 254) * 256 + (n % 254) + 1;
		b.wireguard_address = [`${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}/32`];
		b.hub_endpoint = 'hub.example.com:51820';
	}
	return JSON.stringify(b);
}

function percentile(sorted, p) {
	if (!sorted.length) return null;
	return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main() {
	const a = args();
	const token = fs.readFileSync(a.tokenFile, 'utf8').trim();
	const path = a.kind === 'register' ? '/api/v1/nodes/register' : '/api/v1/nodes/enroll';
	const statuses = {};
	const samples = {}; // the first answer of each status other than 2xx
	const lat = [];
	let rr = 0;
	const t0 = performance.now();
	const end = t0 + a.duration * 1000;
	async function worker() {
		while (performance.now() < end) {
			const data = body(a.kind);
			const url = a.urls[rr++ % a.urls.length] + path;
			const s = performance.now();
			let status;
			try {
				const res = await fetch(url, {
					method: 'POST',
					headers: {
						authorization: `Bearer ${token}`,
						'content-type': 'application/json',
						'dbos-idempotency-key': crypto.createHash('sha256').update(data).digest('hex'),
					},
					body: data,
				});
				const text = await res.text();
				status = String(res.status);
				if (!status.startsWith('2')) samples[status] ??= text.slice(0, 200);
			} catch (e) {
				status = `error: ${e.cause?.code ?? e.message}`;
			}
			const ms = performance.now() - s;
			statuses[status] = (statuses[status] ?? 0) + 1;
			if (status.startsWith('2')) lat.push(ms);
		}
	}
	await Promise.all(Array.from({ length: a.concurrency }, worker));
	const elapsed = (performance.now() - t0) / 1000;
	lat.sort((x, y) => x - y);
	const round = (x) => (x === null ? null : Math.round(x * 10) / 10);
	console.log(JSON.stringify({
		kind: a.kind,
		instances: a.urls.length,
		concurrency: a.concurrency,
		seconds: Math.round(elapsed * 100) / 100,
		ok: lat.length,
		per_second: Math.round(lat.length / elapsed),
		p50_ms: round(percentile(lat, 50)),
		p99_ms: round(percentile(lat, 99)),
		statuses,
		samples,
	}));
}

main().catch((e) => {
	console.error(`cp-load: ${e.message}`);
	process.exit(2);
});
