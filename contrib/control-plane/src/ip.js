// IPv4 and IPv6 addresses as BigInt, for the address pools (WGN_CP_POOLS).
'use strict';

const net = require('node:net');

// Returns {family, value} for an address without a prefix, or null.
function parseAddress(s) {
	const family = net.isIP(s);
	if (family === 4) {
		const v = s.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
		return { family, value: v };
	}
	if (family === 6) {
		if (s.includes('.')) return null; // an embedded IPv4 tail: not in a pool of ours
		const [head, tail] = s.includes('::') ? s.split('::') : [s, null];
		const h = head ? head.split(':') : [];
		const t = tail ? tail.split(':') : [];
		const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
		const v = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
		return { family, value: v };
	}
	return null;
}

function formatAddress(family, value) {
	if (family === 4) {
		const o = [];
		for (let i = 3; i >= 0; i--) o.push(Number((value >> BigInt(i * 8)) & 255n));
		return o.join('.');
	}
	const g = [];
	for (let i = 7; i >= 0; i--) g.push(Number((value >> BigInt(i * 16)) & 0xffffn));
	// The longest run of two or more zero groups becomes "::" (RFC 5952).
	let best = -1, bestLen = 1;
	for (let i = 0; i < 8;) {
		if (g[i] !== 0) { i++; continue; }
		let j = i;
		while (j < 8 && g[j] === 0) j++;
		if (j - i > bestLen) { best = i; bestLen = j - i; }
		i = j;
	}
	const hex = g.map((x) => x.toString(16));
	if (best < 0) return hex.join(':');
	return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

// Returns {family, bits, prefix, network, first, last, text} for a pool CIDR, or throws.
// first/last are the usable host addresses: not the network address and not the
// all-ones address (IPv4's broadcast; in IPv6 the subnet-router anycast is the
// network address, and the all-ones one is kept free too).
function parsePool(cidr) {
	const m = /^([^/]+)\/([0-9]{1,3})$/.exec(cidr.trim());
	const a = m && parseAddress(m[1]);
	if (!a) throw new Error(`pool \`${cidr}' is not a CIDR`);
	const bits = a.family === 4 ? 32 : 128;
	const prefix = Number(m[2]);
	if (prefix > bits - 2) throw new Error(`pool \`${cidr}' has no room for nodes (at most /${bits - 2})`);
	const hostBits = BigInt(bits - prefix);
	const network = (a.value >> hostBits) << hostBits;
	const size = 1n << hostBits;
	return {
		family: a.family, bits, prefix, network,
		first: network + 1n, last: network + size - 2n,
		text: `${formatAddress(a.family, network)}/${prefix}`,
	};
}

function contains(pool, family, value) {
	return family === pool.family && value >= pool.network &&
		value < pool.network + (1n << BigInt(pool.bits - pool.prefix));
}

module.exports = { parseAddress, formatAddress, parsePool, contains };
