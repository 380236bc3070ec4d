// A canonical encoder of format 2's signed objects for the tests (docs/format.md section 1,
// docs/format-2.md section 5), written apart from format.js's reader so that the tests do not
// check the console's decoder against itself, and an Ed25519 author that signs as `khronika
// submit` does. Node.js only (it uses Node's WebCrypto to sign).
import { createHash } from 'node:crypto';

const enc = new TextEncoder();

export const hex = (bytes) => Buffer.from(bytes).toString('hex');
export const unhex = (text) => new Uint8Array(Buffer.from(text, 'hex'));
export const sha256 = (bytes) => new Uint8Array(createHash('sha256').update(bytes).digest());

export function cat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function u64(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

export function i64(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(n), true);
  return b;
}

export function str(s) {
  const b = typeof s === 'string' ? enc.encode(s) : s;
  return cat(u64(b.length), b);
}

const hashList = (hexes) => cat(u64(hexes.length), ...hexes.map(unhex));

// FileDescriptor 'D': {name, media_type, size, sha256 (hex)}.
export function encodeDescriptor({ name, media_type, size, sha256: hash }) {
  return cat(new Uint8Array([1, 0x44, 2]), str(name), str(media_type), u64(size), unhex(hash));
}

// The salted commitment an entry signs for a file, as hex.
export function commitment(salt, descriptorBytes) {
  return hex(sha256(cat(enc.encode('khronika/2 file commitment'), new Uint8Array([0]), salt,
    descriptorBytes)));
}

// Unsigned bytes of an Entry 'E' v2; `pairs` in the order given (canonical only when sorted).
export function encodeEntryUnsigned(e, pairs = Object.entries(e.metadata || {}).sort()) {
  return cat(new Uint8Array([1, 0x45, 2]), str(e.case), unhex(e.author), i64(e.created_at_ms),
    str(e.kind), hashList(e.files), u64(pairs.length),
    ...pairs.map(([k, v]) => cat(str(k), str(v))),
    e.corrects ? cat(new Uint8Array([1]), unhex(e.corrects)) : new Uint8Array([0]));
}

// Record 'R' v2, 115 bytes.
export function encodeRecord({ origin, index, prev_record, object_id, received_at_ms }) {
  return cat(new Uint8Array([1, 0x52, 2]), unhex(origin), u64(index), unhex(prev_record),
    unhex(object_id), i64(received_at_ms));
}

// An author key from a 32-byte seed: {publicKey (hex), sign(unsigned) -> signed entry bytes}.
export async function authorFromSeed(seed) {
  const pkcs8 = cat(unhex('302e020100300506032b657004220420'), seed);
  const key = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
  const jwk = await crypto.subtle.exportKey('jwk', key);
  return {
    publicKey: Buffer.from(jwk.x, 'base64url').toString('hex'),
    async sign(unsigned) {
      const message = cat(enc.encode('khronika entry signature v2'), new Uint8Array([0]),
        sha256(unsigned));
      const signature = await crypto.subtle.sign({ name: 'Ed25519' }, key, message);
      return cat(unsigned, new Uint8Array(signature));
    },
  };
}
