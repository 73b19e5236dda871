// Deterministic IDs shared with cmd/loadgen and `walletctl seed` (load/client.go):
// seeded wallet i is SHA-1(WALLET_NAMESPACE, String(i)) stamped as a version-4 UUID (the API
// reserves version 5 for system wallets). No k6 imports here, so
// the Go tests can run this file under Node and compare with the Go derivation.

// UUIDv5(NameSpaceURL, "urn:wallet-ledger:loadgen:wallet"); load/k6_test.go checks it.
export const WALLET_NAMESPACE = '7f63ff1e-6aed-5c99-869e-a2c65d6bccf0';

function uuidBytes(u) {
  const hex = u.replace(/-/g, '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function utf8(s) {
  const out = [];
  for (const ch of unescape(encodeURIComponent(s))) out.push(ch.charCodeAt(0));
  return Uint8Array.from(out);
}

// nameUUID needs a SHA-1 function taking an ArrayBuffer and returning hex, so it
// runs under k6 (k6/crypto) and Node (node:crypto) alike.
export function nameUUID(sha1Hex, namespace, name) {
  const ns = uuidBytes(namespace);
  const nm = utf8(name);
  const buf = new Uint8Array(ns.length + nm.length);
  buf.set(ns, 0);
  buf.set(nm, ns.length);
  const h = sha1Hex(buf.buffer).slice(0, 32).split('');
  h[12] = '4'; // version 4: v5 IDs are reserved for system wallets
  h[16] = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16); // RFC 4122 variant
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

export function walletID(sha1Hex, i) {
  return nameUUID(sha1Hex, WALLET_NAMESPACE, String(i));
}
