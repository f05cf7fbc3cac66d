// Checks a registration body as wgn sends it (SPEC, "Registration protocol").
// Returns {status, error} for a bad body: 400 when it is not the right shape (a
// missing field, a wrong type), 422 when the shape is right but a value is not
// (a key that is not 32 bytes of base64, an address that is not a CIDR).
'use strict';

const net = require('node:net');

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IFNAME = /^[a-zA-Z0-9_=+.-]{1,15}$/;
const LABEL_KEY = /^[A-Za-z0-9_.\/-]{1,63}$/;

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

function bad(status, error) {
	return { status, error };
}

// Returns {registration} or {status, error}.
function validateRegistration(body) {
	if (body === null || typeof body !== 'object' || Array.isArray(body))
		return bad(400, 'the body must be a JSON object');
	const strings = ['hostname', 'wireguard_public_key', 'interface_name', 'hub_endpoint'];
	for (const k of strings) {
		if (typeof body[k] !== 'string' || body[k].length === 0)
			return bad(400, `${k} must be a non-empty string`);
		if (body[k].length > 255) return bad(422, `${k} is longer than 255 characters`);
	}
	for (const k of ['node_id', 'registered_at', 'wgn_version']) {
		if (body[k] !== undefined && body[k] !== null && typeof body[k] !== 'string')
			return bad(400, `${k} must be a string`);
	}
	const addrs = body.wireguard_address;
	if (!Array.isArray(addrs) || addrs.length === 0 || !addrs.every((a) => typeof a === 'string'))
		return bad(400, 'wireguard_address must be a non-empty array of strings');
	const labels = body.labels ?? {};
	if (typeof labels !== 'object' || Array.isArray(labels) || labels === null ||
	    !Object.values(labels).every((v) => typeof v === 'string'))
		return bad(400, 'labels must be an object of strings');

	if (!isBase64Key(body.wireguard_public_key))
		return bad(422, 'wireguard_public_key is not 32 bytes of base64');
	if (!IFNAME.test(body.interface_name))
		return bad(422, `interface_name \`${body.interface_name}' is not a valid interface name`);
	for (const a of addrs)
		if (!isCidr(a)) return bad(422, `wireguard_address \`${a}' is not an address or CIDR`);
	for (const [k, v] of Object.entries(labels)) {
		if (!LABEL_KEY.test(k)) return bad(422, `label name \`${k}' is not 1-63 of [A-Za-z0-9_./-]`);
		if (v.length > 255) return bad(422, `label ${k} is longer than 255 characters`);
	}
	if (body.node_id && !UUID.test(body.node_id))
		return bad(422, `node_id \`${body.node_id}' is not a UUID`);

	return {
		registration: {
			node_id: body.node_id ? body.node_id.toLowerCase() : null,
			hostname: body.hostname,
			wireguard_public_key: body.wireguard_public_key,
			interface_name: body.interface_name,
			wireguard_address: addrs,
			hub_endpoint: body.hub_endpoint,
			labels,
			wgn_version: body.wgn_version ?? null,
			client_registered_at: body.registered_at ?? null,
		},
	};
}

module.exports = { validateRegistration, isCidr, isBase64Key };
