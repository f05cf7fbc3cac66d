// Checks request bodies before anything is stored or a workflow starts, so a bad
// value is a 4xx that names the field, never a failed workflow that answers 500 to
// every retry. 400: not the right shape (a missing field, a wrong type, a control
// character such as NUL in a string); 422: the shape is right but a value is not
// (a key that is not 32 bytes of base64, an address that is not a CIDR).
'use strict';

const net = require('node:net');
const { parseAddress } = require('./ip');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IFNAME = /^[a-zA-Z0-9_=+.-]{1,15}$/;
const LABEL_KEY = /^[A-Za-z0-9_.\/-]{1,63}$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;
// C0 controls, DEL and C1 controls: never in a name an administrator reads.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const MAX_LABELS = 64;
const MAX_LABEL_VALUE = 255;
const MAX_ADDRESSES = 16;
const MAX_STRING = 255;

class Invalid extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

function isBase64Key(s) {
	if (!/^[A-Za-z0-9+/]{43}=$/.test(s)) return false;
	return Buffer.from(s, 'base64').length === 32;
}

function isCidr(s) {
	const slash = s.lastIndexOf('/');
	const addr = slash < 0 ? s : s.slice(0, slash);
	const family = net.isIP(addr);
	if (family === 0) return false;
	if (slash < 0) return true;
	const len = s.slice(slash + 1);
	if (!/^[0-9]{1,3}$/.test(len)) return false;
	return Number(len) <= (family === 4 ? 32 : 128);
}

// host:port, where host is a DNS name, an IPv4 address or a bracketed IPv6 address.
function isEndpoint(s) {
	const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(s);
	if (!m) return false;
	const port = Number(m[3]);
	if (port < 1 || port > 65535) return false;
	if (m[1] !== undefined) return net.isIPv6(m[1]);
	return net.isIPv4(m[2]) || (HOSTNAME.test(m[2]) && !/^[0-9.]+$/.test(m[2]));
}

function object(body, what = 'the body') {
	if (body === null || typeof body !== 'object' || Array.isArray(body))
		throw new Invalid(400, `${what} must be a JSON object`);
	return body;
}

// A string field: required or optional (undefined/null -> null), without control
// characters, at most max characters.
function str(body, k, { required = true, max = MAX_STRING } = {}) {
	const v = body[k];
	if (v === undefined || v === null) {
		if (required) throw new Invalid(400, `${k} must be a non-empty string`);
		return null;
	}
	if (typeof v !== 'string' || (required && v.length === 0))
		throw new Invalid(400, required ? `${k} must be a non-empty string` : `${k} must be a string`);
	if (CONTROL.test(v))
		throw new Invalid(400, `${k} contains a control character (such as NUL)`);
	if (!v.isWellFormed()) throw new Invalid(400, `${k} is not valid Unicode (a lone surrogate)`);
	if (v.length > max) throw new Invalid(422, `${k} is longer than ${max} characters`);
	return v;
}

function labels(body, k = 'labels') {
	const l = body[k] ?? {};
	if (typeof l !== 'object' || Array.isArray(l) || l === null ||
	    !Object.values(l).every((v) => typeof v === 'string'))
		throw new Invalid(400, `${k} must be an object of strings`);
	const entries = Object.entries(l);
	if (entries.length > MAX_LABELS) throw new Invalid(422, `${k} has more than ${MAX_LABELS} entries`);
	for (const [name, v] of entries) {
		if (!LABEL_KEY.test(name)) throw new Invalid(422, `label name \`${name.replace(CONTROL, '?')}' is not 1-63 of [A-Za-z0-9_./-]`);
		if (CONTROL.test(v)) throw new Invalid(400, `label ${name} contains a control character (such as NUL)`);
		if (!v.isWellFormed()) throw new Invalid(400, `label ${name} is not valid Unicode (a lone surrogate)`);
		if (v.length > MAX_LABEL_VALUE) throw new Invalid(422, `label ${name} is longer than ${MAX_LABEL_VALUE} characters`);
	}
	return l;
}

function publicKey(body, k, required = true) {
	const v = str(body, k, { required, max: 44 });
	if (v !== null && !isBase64Key(v)) throw new Invalid(422, `${k} is not 32 bytes of base64`);
	return v;
}

function interfaceName(body) {
	const v = str(body, 'interface_name', { max: 15 });
	if (!IFNAME.test(v)) throw new Invalid(422, `interface_name \`${v}' is not a valid interface name`);
	return v;
}

function uuid(body, k) {
	const v = str(body, k, { required: false, max: 36 });
	if (v && !UUID.test(v)) throw new Invalid(422, `${k} \`${v}' is not a UUID`);
	return v ? v.toLowerCase() : null;
}

// Runs check(body) and returns {value} or {status, error}.
function run(check, body) {
	try {
		return { value: check(body) };
	} catch (e) {
		if (e instanceof Invalid) return { status: e.status, error: e.message };
		throw e;
	}
}

// POST /api/v1/nodes/register (SPEC "Registration protocol", plus
// previous_public_key for a key rotation).
function registration(body) {
	object(body);
	const hostname = str(body, 'hostname');
	const key = publicKey(body, 'wireguard_public_key');
	const ifname = interfaceName(body);
	const endpoint = str(body, 'hub_endpoint');
	const wgnVersion = str(body, 'wgn_version', { required: false });
	const registeredAt = str(body, 'registered_at', { required: false });
	const addrs = body.wireguard_address;
	if (!Array.isArray(addrs) || addrs.length === 0 || !addrs.every((a) => typeof a === 'string'))
		throw new Invalid(400, 'wireguard_address must be a non-empty array of strings');
	if (addrs.length > MAX_ADDRESSES)
		throw new Invalid(422, `wireguard_address has more than ${MAX_ADDRESSES} entries`);
	const l = labels(body);
	for (const a of addrs)
		if (CONTROL.test(a) || !isCidr(a))
			throw new Invalid(422, `wireguard_address \`${a.replace(CONTROL, '?')}' is not an address or CIDR`);
	if (!isEndpoint(endpoint))
		throw new Invalid(422, `hub_endpoint \`${endpoint}' is not host:port`);
	const nodeId = uuid(body, 'node_id');
	const previous = publicKey(body, 'previous_public_key', false);
	return {
		node_id: nodeId, hostname, wireguard_public_key: key, interface_name: ifname,
		wireguard_address: addrs, hub_endpoint: endpoint, labels: l, wgn_version: wgnVersion,
		client_registered_at: registeredAt, previous_public_key: previous,
	};
}

// POST /api/v1/nodes/enroll (SPEC "Enrollment").
function enrollment(body) {
	object(body);
	return {
		hostname: str(body, 'hostname'),
		wireguard_public_key: publicKey(body, 'wireguard_public_key'),
		interface_name: interfaceName(body),
		labels: labels(body),
		wgn_version: str(body, 'wgn_version', { required: false }),
	};
}

// POST /api/v1/hubs.
function hub(body, pools) {
	object(body);
	const key = publicKey(body, 'public_key');
	const endpoint = str(body, 'endpoint');
	if (!isEndpoint(endpoint)) throw new Invalid(422, `endpoint \`${endpoint}' is not host:port`);
	let tunnel = str(body, 'tunnel_address', { max: 64 });
	// "10.0.0.1" or "10.0.0.1/32": a host address.
	const m = /^([^/]+)(?:\/(32|128))?$/.exec(tunnel);
	if (!m || !parseAddress(m[1]))
		throw new Invalid(422, `tunnel_address \`${tunnel}' is not an IP address`);
	tunnel = m[1];
	let allowed = body.allowed_ips;
	if (allowed === undefined || allowed === null) {
		allowed = pools.map((p) => p.text);
	} else {
		if (!Array.isArray(allowed) || !allowed.every((a) => typeof a === 'string'))
			throw new Invalid(400, 'allowed_ips must be an array of strings');
		if (allowed.length > MAX_ADDRESSES) throw new Invalid(422, `allowed_ips has more than ${MAX_ADDRESSES} entries`);
		for (const a of allowed)
			if (CONTROL.test(a) || !isCidr(a)) throw new Invalid(422, `allowed_ips \`${a.replace(CONTROL, '?')}' is not a CIDR`);
	}
	const ka = body.persistent_keepalive ?? 25;
	if (!Number.isInteger(ka) || ka < 0 || ka > 65535)
		throw new Invalid(422, 'persistent_keepalive must be an integer from 0 to 65535');
	const priority = body.priority ?? 0;
	if (!Number.isInteger(priority) || Math.abs(priority) > 1000000)
		throw new Invalid(422, 'priority must be an integer');
	return { public_key: key, endpoint, tunnel_address: tunnel, allowed_ips: allowed,
		persistent_keepalive: ka, priority };
}

// POST /api/v1/enrollment-tokens.
function enrollmentToken(body) {
	object(body ?? {});
	body = body ?? {};
	let expires = str(body, 'expires_at', { required: false, max: 64 });
	if (expires !== null) {
		const t = Date.parse(expires);
		if (!/^\d{4}-\d{2}-\d{2}T/.test(expires) || Number.isNaN(t))
			throw new Invalid(422, `expires_at \`${expires}' is not an ISO 8601 time`);
		expires = new Date(t).toISOString();
	}
	const maxUses = body.max_uses ?? 1;
	if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > 1000000)
		throw new Invalid(422, 'max_uses must be an integer from 1 to 1000000');
	return { expires_at: expires, max_uses: maxUses, labels: labels(body) };
}

const STATUSES = ['healthy', 'degraded', 'unhealthy', 'disconnected'];

// Whatever JSON PostgreSQL's jsonb cannot hold (a NUL, a lone surrogate), or too
// deep a nesting, is refused with the path of the value.
function storableJson(v, where, depth = 0) {
	if (depth > 8) throw new Invalid(422, `${where} is nested too deeply`);
	if (typeof v === 'string') {
		if (v.includes('\u0000')) throw new Invalid(400, `${where} contains a NUL character`);
		if (!v.isWellFormed()) throw new Invalid(400, `${where} is not valid Unicode (a lone surrogate)`);
	} else if (v !== null && typeof v === 'object') {
		for (const [k, x] of Object.entries(v)) {
			storableJson(k, `${where}: a key`, depth + 1);
			storableJson(x, `${where}.${k}`.slice(0, 100), depth + 1);
		}
	}
}

// POST /api/v1/nodes/{id}/health: the JSON of `wgn health --format json`.
function health(body) {
	object(body);
	storableJson(body, 'report');
	// `unknown` too: the node's check could not run (wgn health exits 3), which is worth
	// keeping (the node is alive, last_seen moves) and is listed with the nodes that
	// never reported.
	const status = str(body, 'status', { max: 32 });
	if (![...STATUSES, 'unknown'].includes(status))
		throw new Invalid(422, `status \`${status}' is not one of ${[...STATUSES, 'unknown'].join(', ')}`);
	return { status, report: body };
}

module.exports = {
	run, registration, enrollment, hub, enrollmentToken, health, STATUSES,
	isCidr, isBase64Key, isEndpoint, UUID,
};
