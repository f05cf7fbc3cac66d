#!/usr/bin/env node
// sync-longpoll.js URL HUB_TOKEN_FILE REG_TOKEN_FILE COUNT HEAD APP_PID: COUNT hubs
// long-polling one app instance (bench/sync.sh). Holds COUNT requests
// GET /api/v1/nodes?since=HEAD&limit=1000&wait=60 with the hub token, each on its own
// connection, opened 100 at a time; once /healthz counts them all waiting, registers one node (POST
// /api/v1/nodes/register with the shared token) and measures from the control plane's
// request to the first and to the last of the COUNT answers that carry it (the commit
// is in between: the registration's answer comes after the wake-ups on this client). Prints the
// app's RSS (VmRSS of APP_PID) before and with the waiters. Tokens are read from files.
'use strict';
const fs = require('fs');
const http = require('http');
const crypto = require('crypto');

const [url, hubTokenFile, regTokenFile, countArg, headArg, appPid] = process.argv.slice(2);
const count = Number(countArg);
const hubToken = fs.readFileSync(hubTokenFile, 'utf8').trim();
const regToken = fs.readFileSync(regTokenFile, 'utf8').trim();
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${appPid}/status`, 'utf8'))[1]);
const now = () => Number(process.hrtime.bigint()) / 1e6;

function request(method, path, token, body) {
	return new Promise((resolve, reject) => {
		const req = http.request(url + path, { method, agent, headers: {
			Authorization: `Bearer ${token}`, 'Content-Type': 'application/json',
			'dbos-idempotency-key': crypto.randomBytes(16).toString('hex') } }, (res) => {
			let data = '';
			res.on('data', (c) => { data += c; });
			res.on('end', () => resolve({ status: res.statusCode, data, at: now() }));
		});
		req.on('error', reject);
		if (body) req.write(JSON.stringify(body));
		req.end();
	});
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
	const before = rss();
	// Opened 100 at a time, as hubs that start at different times would (the app
	// answers at most WGN_CP_MAX_IN_FLIGHT first queries at once).
	const polls = [];
	const early = {};
	let waiting = 0;
	for (let i = 0; i < count; i += 100) {
		for (let j = i; j < Math.min(count, i + 100); j++)
			polls.push(request('GET', `/api/v1/nodes?since=${headArg}&limit=1000&wait=60`, hubToken)
				.then((a) => { early[a.status] = (early[a.status] || 0) + 1; return a; }));
		for (let t = 0; t < 100 && waiting < Math.min(count, i + 100); t++) {
			await sleep(50);
			waiting = JSON.parse((await request('GET', '/healthz', hubToken)).data).waiting;
		}
	}
	if (waiting < count)
		throw new Error(`only ${waiting} of ${count} long polls are waiting; answered: ${JSON.stringify(early)}`);
	await sleep(500);
	const during = rss();
	const key = crypto.randomBytes(32).toString('base64');
	const sent = now();
	const reg = await request('POST', '/api/v1/nodes/register', regToken, {
		hostname: 'longpoll', wireguard_public_key: key, interface_name: 'wg0',
		wireguard_address: ['fd00::4:1/64'], hub_endpoint: '192.0.2.1:51820', labels: {},
		wgn_version: 'bench', registered_at: '2026-12-03T00:00:00Z' });
	if (reg.status !== 200 && reg.status !== 201) throw new Error(`register: ${reg.status} ${reg.data}`);
	const answers = await Promise.all(polls);
	const bad = answers.filter((a) => a.status !== 200 || !a.data.includes(key)).length;
	const at = answers.map((a) => a.at - sent).sort((a, b) => a - b);
	console.log(`${count} long polls: app RSS ${before} KiB before, ${during} KiB with them waiting ` +
		`(+${((during - before) / count).toFixed(1)} KiB each); the change reached the first ` +
		`${at[0].toFixed(1)} ms, the median ${at[Math.floor(count / 2)].toFixed(1)} ms and the last ` +
		`${at[count - 1].toFixed(1)} ms after its registration was sent (the registration's own ` +
		`answer: ${(reg.at - sent).toFixed(1)} ms); ${bad} answers without it`);
	process.exit(bad ? 1 : 0);
})().catch((e) => { console.error(`sync-longpoll.js: ${e.message}`); process.exit(1); });
