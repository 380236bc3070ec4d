// The checks the console makes in the browser, written from docs/format-2.md (objects, section 5)
// and docs/format.md (encoding, Merkle tree, notes): reading the signed objects' canonical bytes,
// the author's Ed25519 signature and the salted file commitments, SHA-256 through SubtleCrypto,
// RFC 6962 leaf and node hashes, the RFC 9162 inclusion-proof algorithm, and C2SP signed notes
// (checkpoints and cosignatures).
// No DOM here: tests/browser/format_test.mjs runs this module under Node.js as well.

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function subtle() {
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    throw new Error('this browser offers no SubtleCrypto here (the console needs HTTPS)');
  }
  return globalThis.crypto.subtle;
}

// ---- bytes ----

export function toHex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(text) {
  if (typeof text !== 'string' || text.length % 2 !== 0 || !/^[0-9a-f]*$/.test(text)) {
    throw new Error('not lowercase hex');
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

export function fromBase64(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new Error('not base64');
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

// One array of the pieces' bytes in order. Takes an array, not arguments, so that a download's
// thousands of pieces are not spread onto the call stack.
export function concatAll(parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function concat(...parts) {
  return concatAll(parts);
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export async function sha256(bytes) {
  return new Uint8Array(await subtle().digest('SHA-256', bytes));
}

export async function sha256Hex(bytes) {
  return toHex(await sha256(bytes));
}

// ---- text people read ----

// Code points that are invisible or reorder the text around them: a copy of kInvisibleCodePoints
// in schemas/include/khronika/schemas/text.h (read the reasons there), which
// tests/browser/format_test.mjs compares with this one. Change both together.
export const INVISIBLE_CODE_POINTS = [
  [0x0080, 0x009F],
  [0x00AD, 0x00AD],
  [0x061C, 0x061C],
  [0x115F, 0x1160],
  [0x200B, 0x200B],
  [0x200E, 0x200F],
  [0x202A, 0x202E],
  [0x2060, 0x206F],
  [0x3164, 0x3164],
  [0xFEFF, 0xFEFF],
  [0xFFA0, 0xFFA0],
  [0xFFF9, 0xFFFB],
  [0xE0000, 0xE007F],
];

export function isInvisibleCodePoint(cp) {
  return INVISIBLE_CODE_POINTS.some(([first, last]) => cp >= first && cp <= last);
}

// A submitter's text as a person should see it: each invisible or text-direction code point
// written out as "<U+202E>" (ShowInvisible in text.h does the same for the CLI and REPORT.md).
// The signed bytes are not changed; only what is shown.
export function showInvisible(text) {
  let out = '';
  for (const ch of String(text)) {
    const cp = ch.codePointAt(0);
    out += isInvisibleCodePoint(cp) ? `<U+${cp.toString(16).toUpperCase().padStart(4, '0')}>` : ch;
  }
  return out;
}

// ---- canonical objects (format.md section 1, format-2.md section 5) ----

export const FORMAT_VERSION = 2;
// What the objects may hold (schemas/include/khronika/schemas/objects.h, sealed_objects.h).
export const MAX_FILE_SIZE = 2 ** 40;
const MAX_ENTRY_BYTES = 128 * 1024;  // a signed entry travels in an entry box of at most 128 KiB
const MAX_DESCRIPTOR_BYTES = 512 - 4 - 32;  // the descriptor box: length, salt, descriptor
export const RECORD_BYTES = 3 + 32 + 8 + 32 + 32 + 8;

class Reader {
  constructor(bytes, what) {
    this.b = bytes;
    this.off = 0;
    this.what = what;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n) {
    if (this.off + n > this.b.length) throw new Error(`${this.what}: truncated`);
  }
  bytes(n) {
    this.need(n);
    const out = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }
  u8() {
    return this.bytes(1)[0];
  }
  u64() {
    this.need(8);
    const v = this.view.getBigUint64(this.off, true);
    this.off += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${this.what}: number too large`);
    return Number(v);
  }
  i64() {
    this.need(8);
    const v = this.view.getBigInt64(this.off, true);
    this.off += 8;
    return Number(v);
  }
  rawString(max) {
    const n = this.u64();
    if (n > max) throw new Error(`${this.what}: string too long`);
    return this.bytes(n);
  }
  string(max) {
    return decoder.decode(this.rawString(max));
  }
  hashList(max) {
    const n = this.u64();
    if (n > max) throw new Error(`${this.what}: too many hashes`);
    const out = [];
    for (let i = 0; i < n; i++) out.push(toHex(this.bytes(32)));
    return out;
  }
  header(type) {
    const h = this.bytes(3);
    if (h[0] !== 0x01 || h[1] !== type.charCodeAt(0) || h[2] !== FORMAT_VERSION) {
      throw new Error(`${this.what}: not a version ${FORMAT_VERSION} '${type}' object`);
    }
  }
  end() {
    if (this.off !== this.b.length) throw new Error(`${this.what}: bytes left over`);
  }
}

// Byte order of two Uint8Arrays, as std::string compares the canonical metadata keys.
function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

// FileDescriptor 'D' (format-2.md section 5): a file as its author describes it.
export function parseDescriptor(bytes) {
  if (bytes.length > MAX_DESCRIPTOR_BYTES) throw new Error('file descriptor: too long');
  const r = new Reader(bytes, 'file descriptor');
  r.header('D');
  const d = {};
  d.name = r.string(255);
  d.media_type = r.string(127);
  d.size = r.u64();
  if (d.size > MAX_FILE_SIZE) throw new Error('file descriptor: file larger than 1 TiB');
  d.sha256 = toHex(r.bytes(32));
  r.end();
  return d;
}

// Entry 'E' version 2 (format-2.md section 5), with the bytes its author signed. `files` holds the
// salted commitments of the files' descriptors, in order. `metadata` has no prototype, so that a
// key such as "__proto__" is a key like any other.
export function parseEntry(bytes) {
  if (bytes.length > MAX_ENTRY_BYTES) throw new Error('entry: longer than 128 KiB');
  const r = new Reader(bytes, 'entry');
  r.header('E');
  const e = {};
  e.case = r.string(128);
  e.author = toHex(r.bytes(32));
  e.created_at_ms = r.i64();
  e.kind = r.string(32);
  e.files = r.hashList(1000);
  const pairs = r.u64();
  if (pairs > 64) throw new Error('entry: too many metadata pairs');
  e.metadata = Object.create(null);
  let previous = null;
  for (let i = 0; i < pairs; i++) {
    const k = r.rawString(64);
    if (previous !== null && compareBytes(previous, k) >= 0) {
      throw new Error('entry: metadata keys not sorted and unique');
    }
    previous = k;
    e.metadata[decoder.decode(k)] = r.string(4096);
  }
  const flag = r.u8();
  if (flag > 1) throw new Error('entry: bad corrects flag');
  e.corrects = flag ? toHex(r.bytes(32)) : null;
  const unsignedLength = r.off;
  e.signature = r.bytes(64);
  r.end();
  e.unsigned = bytes.subarray(0, unsignedLength);
  return e;
}

// Record 'R' version 2 (format-2.md section 5): 115 bytes; object_id names the sealed entry.
export function parseRecord(bytes) {
  if (bytes.length !== RECORD_BYTES) throw new Error(`record: not ${RECORD_BYTES} bytes`);
  const r = new Reader(bytes, 'record');
  r.header('R');
  return {
    origin: toHex(r.bytes(32)),
    index: r.u64(),
    prev_record: toHex(r.bytes(32)),
    object_id: toHex(r.bytes(32)),
    received_at_ms: r.i64(),
  };
}

// ---- Ed25519 through SubtleCrypto, where the browser has it ----

// true / false, or null when this browser cannot check Ed25519 signatures.
export async function verifyEd25519(publicKey, signature, message) {
  let key;
  try {
    key = await subtle().importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    return null;
  }
  return subtle().verify({ name: 'Ed25519' }, key, signature, message);
}

// The author's signature of an entry: Ed25519 over
// "khronika entry signature v2" || 0x00 || SHA-256(unsigned bytes).
export async function verifyEntrySignature(entry) {
  const message = concat(encoder.encode('khronika entry signature v2'), new Uint8Array([0]),
                         await sha256(entry.unsigned));
  return verifyEd25519(fromHex(entry.author), entry.signature, message);
}

// ---- a file against the signed entry ----

// SHA-256("khronika/2 file commitment" || 0x00 || salt (32) || descriptor bytes), as hex.
export async function fileCommitment(salt, descriptorBytes) {
  return sha256Hex(concat(encoder.encode('khronika/2 file commitment'), new Uint8Array([0]), salt,
                          descriptorBytes));
}

// Checks what the node sent of file `index` (its descriptor's bytes and the author's salt, both as
// hex) against the commitment the author signed at that place of the entry's `files`. Returns
// {ok, descriptor, commitment, problem}: the descriptor is to be believed only when ok.
export async function checkFileOpening(entry, index, descriptorHex, saltHex) {
  const fail = (problem) => ({ ok: false, descriptor: null, commitment: null, problem });
  if (!Number.isSafeInteger(index) || index < 0 || index >= entry.files.length) {
    return fail(`the author signed ${entry.files.length} file${entry.files.length === 1 ? '' : 's'} ` +
                `in this entry; there is no file number ${index + 1}`);
  }
  let salt;
  let descriptorBytes;
  let descriptor;
  try {
    salt = fromHex(saltHex);
    descriptorBytes = fromHex(descriptorHex);
    descriptor = parseDescriptor(descriptorBytes);
  } catch (e) {
    return fail(`the file's description from the node cannot be read (${e.message})`);
  }
  if (salt.length !== 32) return fail('the file\'s commitment salt from the node is not 32 bytes');
  const commitment = await fileCommitment(salt, descriptorBytes);
  if (commitment !== entry.files[index]) {
    return fail(`the file's description does not match the one the author signed: its commitment is ` +
                `${commitment}, the author signed ${entry.files[index]}`);
  }
  return { ok: true, descriptor, commitment, problem: null };
}

// Checks `bytes` against the descriptor the author signed: its length and its SHA-256 (format 2
// signs no hash of parts of a file, so the whole is hashed). Returns {ok, sha256, problems: [text]}.
export async function checkFileBytes(descriptor, bytes) {
  const problems = [];
  if (bytes.length !== descriptor.size) {
    problems.push(`it has ${bytes.length} bytes; the author signed ${descriptor.size}`);
  }
  const whole = await sha256Hex(bytes);
  if (whole !== descriptor.sha256) {
    problems.push(`its SHA-256 is ${whole}; the author signed ${descriptor.sha256}`);
  }
  return { ok: problems.length === 0, sha256: whole, problems };
}

// ---- RFC 6962 Merkle tree (format.md section 8) ----

export async function leafHash(recordBytes) {
  return sha256(concat(new Uint8Array([0]), recordBytes));
}

export async function nodeHash(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

// RFC 9162 section 2.1.3.2. Returns {ok, root, steps: [{sibling, side, result}], problem}: every
// step, so that the console can show how the root is reached.
export async function verifyInclusion(index, size, leaf, proof, expectedRoot) {
  const steps = [];
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index >= size) {
    return { ok: false, steps, problem: `record ${index} is not in a log of ${size} records` };
  }
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const hex of proof) {
    const p = fromHex(hex);
    if (sn === 0) return { ok: false, steps, problem: 'the proof has more steps than the tree has levels' };
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      steps.push({ sibling: hex, side: 'left', result: toHex(r) });
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await nodeHash(r, p);
      steps.push({ sibling: hex, side: 'right', result: toHex(r) });
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return { ok: false, steps, root: toHex(r), problem: 'the proof has too few steps' };
  const ok = equalBytes(r, expectedRoot);
  return { ok, steps, root: toHex(r), problem: ok ? null : 'the computed root differs from the checkpoint\'s root' };
}

// ---- C2SP signed notes: checkpoints and cosignatures (format.md section 10) ----

// {body, origin, size, root (bytes), signatures: [{name, bytes, line}]}
export function parseCheckpointNote(note) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('checkpoint: no empty line before the signatures');
  const body = note.slice(0, split + 1);
  const lines = body.split('\n');
  if (lines.length < 4) throw new Error('checkpoint: body too short');
  const size = lines[1];
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new Error('checkpoint: bad size line');
  const root = fromBase64(lines[2]);
  if (root.length !== 32) throw new Error('checkpoint: root is not 32 bytes');
  const signatures = [];
  for (const line of note.slice(split + 2).split('\n')) {
    if (line === '') continue;
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error('checkpoint: a signature line is malformed');
    signatures.push({ name: m[1], bytes: fromBase64(m[2]), line });
  }
  return { body, origin: lines[0], size: Number(size), root, signatures };
}

async function keyId(name, type, publicKey) {
  return (await sha256(concat(encoder.encode(name), new Uint8Array([0x0a, type]), publicKey))).subarray(0, 4);
}

// The origin's signature on a checkpoint: the origin's public key must hash to its node id (the
// name is khronika/<node id>), and a signature line with that name and key id must verify.
// Returns {ok: true|false|null, problem}; null when the browser cannot check Ed25519.
export async function verifyCheckpointSignature(cp, publicKeyHex) {
  const publicKey = fromHex(publicKeyHex);
  const nodeId = await sha256Hex(publicKey);
  if (cp.origin !== `khronika/${nodeId}`) {
    return { ok: false, problem: `the checkpoint names ${cp.origin}, not the log of this key (khronika/${nodeId})` };
  }
  const id = await keyId(cp.origin, 0x01, publicKey);
  for (const s of cp.signatures) {
    if (s.name !== cp.origin || s.bytes.length !== 68 || !equalBytes(s.bytes.subarray(0, 4), id)) continue;
    const ok = await verifyEd25519(publicKey, s.bytes.subarray(4), encoder.encode(cp.body));
    if (ok === null) return { ok: null, problem: 'this browser cannot check Ed25519 signatures' };
    return { ok, problem: ok ? null : 'the origin\'s signature does not verify' };
  }
  return { ok: false, problem: 'no signature line by the origin\'s key' };
}

// A cosignature (format.md section 10.1) on `cp` against a witness verifier key
// "name+keyid+base64(0x04 || key)". Returns {ok: true|false|null, timestamp}.
export async function verifyCosignature(cp, vkey) {
  // name+keyid+base64: the base64 may itself contain '+', so split at the first two only.
  const m = /^([^+]+)\+([0-9a-f]{8})\+(.+)$/.exec(vkey);
  if (!m) return { ok: false, problem: 'malformed witness key' };
  const [, name, , keyB64] = m;
  const raw = fromBase64(keyB64);
  if (raw.length !== 33 || raw[0] !== 0x04) return { ok: false, problem: 'not a cosignature key' };
  const publicKey = raw.subarray(1);
  const id = await keyId(name, 0x04, publicKey);
  for (const s of cp.signatures) {
    if (s.name !== name || s.bytes.length !== 76 || !equalBytes(s.bytes.subarray(0, 4), id)) continue;
    const t = new DataView(s.bytes.buffer, s.bytes.byteOffset + 4, 8).getBigUint64(0, false);
    const message = encoder.encode(`cosignature/v1\ntime ${t}\n${cp.body}`);
    const ok = await verifyEd25519(publicKey, s.bytes.subarray(12), message);
    return { ok, timestamp: Number(t), problem: ok === false ? 'the cosignature does not verify' : null };
  }
  return { ok: false, problem: 'no cosignature line by this witness key' };
}
