// Bearer tokens. The control plane keeps SHA-256 digests only. A token's prefix
// names its role, so a leaked one is recognisable (and greppable by secret scanners):
//   wgne_  enrollment     wgnh_  hub     wgnn_  node
// The admin token and the wave-1 shared registration token are whatever the
// operator configured.
'use strict';

const crypto = require('node:crypto');

const PREFIX = { enrollment: 'wgne_', hub: 'wgnh_', node: 'wgnn_' };

function sha256(s) {
	return crypto.createHash('sha256').update(s).digest();
}

function newToken(role) {
	return PREFIX[role] + crypto.randomBytes(32).toString('base64url');
}

// A node's token is derived from the enrollment's workflow ID with a key only the
// control plane has, so that a retried enrollment can hand out the same token again
// without the token being stored anywhere (DBOS records workflow outputs in clear).
function nodeToken(key, workflowId) {
	return PREFIX.node + crypto.createHmac('sha256', key).update(`node-token\0${workflowId}`)
		.digest('base64url');
}

function roleOf(token) {
	for (const [role, p] of Object.entries(PREFIX)) if (token.startsWith(p)) return role;
	return null;
}

// The token of an `Authorization: Bearer` header, or null.
function bearer(header) {
	const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? '');
	return m ? m[1] : null;
}

function sameDigest(a, b) {
	return a !== null && b !== null && a.length === b.length && crypto.timingSafeEqual(a, b);
}

module.exports = { sha256, newToken, nodeToken, roleOf, bearer, sameDigest };
