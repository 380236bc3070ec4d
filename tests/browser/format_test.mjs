// Unit tests of the console's checks (server/http/console/format.js) under Node.js's own test
// runner: format 2's golden vectors (tests/golden/*.hex, sealed by schemas/src/objects_test.cc and
// rebuilt in Python by tests/integration/format2_golden.py from the same fixed inputs, which are
// repeated here), objects re-signed here with the golden author key to show what a lying node
// can and cannot make the console accept, the checkpoint notes of docs/format.md section 13, and
// RFC 6962 trees built here. Run: node --test tests/browser/format_test.mjs
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import {
  INVISIBLE_CODE_POINTS, checkFileBytes, checkFileOpening, fileCommitment, fromHex,
  isInvisibleCodePoint, leafHash, nodeHash, parseCheckpointNote, parseDescriptor, parseEntry,
  parseRecord, sha256, showInvisible, toHex, verifyCheckpointSignature, verifyCosignature,
  verifyEntrySignature, verifyInclusion,
} from '../../server/http/console/format.js';
import { authorFromSeed, cat, encodeDescriptor, encodeEntryUnsigned } from './encode.mjs';

const golden = (name) =>
  fromHex(readFileSync(new URL(`../golden/${name}`, import.meta.url), 'utf8').trim());
const DESCRIPTOR = golden('descriptor.hex');
const ENTRY = golden('entry.hex');
const SEALED_ENTRY = golden('sealed_entry.hex');
const RECORD = golden('record.hex');

// The fixed inputs of the golden vectors (objects_test.cc, format2_golden.py).
const pattern = (n, start) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
const AUTHOR_SEED = pattern(32, 0x00);
const COMMITMENT_SALTS = [pattern(32, 0x80), pattern(32, 0xa0)];
const CONTENTS = [
  Uint8Array.from({ length: 5000 }, (_, k) => (k * 7 + (k >> 8)) & 0xff),
  new Uint8Array(0),
];
const NAMES = [['witness statement.pdf', 'application/pdf'], ['empty.txt', 'text/plain']];

const enc = new TextEncoder();
let goldenAuthor;
async function signWithGoldenAuthor(unsigned) {
  goldenAuthor ??= await authorFromSeed(AUTHOR_SEED);
  return goldenAuthor.sign(unsigned);
}

function goldenDescriptor(i) {
  return { name: NAMES[i][0], media_type: NAMES[i][1], size: CONTENTS[i].length, sha256: null };
}
async function goldenDescriptorBytes(i) {
  return encodeDescriptor({ ...goldenDescriptor(i), sha256: toHex(await sha256(CONTENTS[i])) });
}

test('the golden descriptor, entry and record read as docs/format-2.md says', async () => {
  const d = parseDescriptor(DESCRIPTOR);
  assert.deepEqual(d, {
    name: 'witness statement.pdf', media_type: 'application/pdf', size: 5000,
    sha256: toHex(await sha256(CONTENTS[0])),
  });
  assert.deepEqual(DESCRIPTOR, await goldenDescriptorBytes(0));

  const e = parseEntry(ENTRY);
  assert.equal(e.case, 'case-2024.017');
  // The author key is the public key of the golden seed, derived here by WebCrypto.
  goldenAuthor ??= await authorFromSeed(AUTHOR_SEED);
  assert.equal(e.author, goldenAuthor.publicKey);
  assert.equal(e.created_at_ms, 1718000000123);
  assert.equal(e.kind, 'evidence');
  assert.equal(e.files.length, 2);
  assert.deepEqual(Object.entries(e.metadata),
    [['location', 'Kharkiv'], ['source', 'drone footage']]);
  assert.equal(e.corrects, toHex(pattern(32, 0xc0)));
  assert.equal(e.unsigned.length, ENTRY.length - 64);
  assert.equal(await verifyEntrySignature(e), true);
  // Ed25519 is deterministic: the entry re-signed here from its unsigned bytes is the golden one.
  assert.deepEqual(await signWithGoldenAuthor(e.unsigned), ENTRY);

  const r = parseRecord(RECORD);
  assert.equal(r.origin, toHex(await sha256(fromHex(e.author))));
  assert.equal(r.index, 41);
  assert.equal(r.prev_record, toHex(pattern(32, 0x01)));
  assert.equal(r.object_id, toHex(await sha256(SEALED_ENTRY)));
  assert.equal(r.received_at_ms, 1718000000456);
  assert.equal(toHex(await leafHash(RECORD)),
    toHex(await sha256(cat(new Uint8Array([0]), RECORD))));
});

test('the author signature: any changed byte of the entry is refused', async () => {
  // Every byte of the unsigned part and of the signature, one at a time.
  const end = ENTRY.length;
  for (const at of [3, 11, 20, 50, 60, 120, 200, end - 65, end - 64, end - 1]) {
    const forged = ENTRY.slice();
    forged[at] ^= 1;
    let e;
    try {
      e = parseEntry(forged);
    } catch (err) {
      continue;  // no longer canonical: refused before the signature is looked at
    }
    assert.equal(await verifyEntrySignature(e), false, `byte ${at}`);
  }
  // "Kharkiv" -> "Jharkiv": still canonical, so only the signature tells.
  const at = toHex(ENTRY).indexOf(toHex(enc.encode('Kharkiv'))) / 2;
  const forged = ENTRY.slice();
  forged[at] ^= 1;
  const e = parseEntry(forged);
  assert.equal(e.metadata.location, 'Jharkiv');
  assert.equal(await verifyEntrySignature(e), false);
  // A version 1 signature prefix does not verify a version 2 entry.
  const v1 = cat(enc.encode('khronika entry signature v1'), new Uint8Array([0]),
    await sha256(e.unsigned));
  const key = await crypto.subtle.importKey('raw', fromHex(e.author), { name: 'Ed25519' }, false,
    ['verify']);
  const signature = parseEntry(ENTRY).signature;
  assert.equal(await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, v1), false);
});

test('objects that are not canonical format 2 are refused', async () => {
  assert.throws(() => parseEntry(ENTRY.subarray(0, 200)), /truncated/);
  assert.throws(() => parseEntry(cat(ENTRY, new Uint8Array([0]))), /left over/);
  const v1 = ENTRY.slice();
  v1[2] = 1;
  assert.throws(() => parseEntry(v1), /not a version 2 'E'/);
  assert.throws(() => parseDescriptor(ENTRY), /not a version 2 'D'/);
  assert.throws(() => parseEntry(DESCRIPTOR), /not a version 2 'E'/);
  assert.throws(() => parseDescriptor(cat(DESCRIPTOR, new Uint8Array([0]))), /left over/);
  assert.throws(() => parseRecord(RECORD.subarray(1)), /115/);
  assert.throws(() => parseRecord(new Uint8Array(147)), /115/);
  const r1 = RECORD.slice();
  r1[2] = 1;
  assert.throws(() => parseRecord(r1), /not a version 2 'R'/);
  const huge = encodeDescriptor({ ...goldenDescriptor(0), 
    size: 2 ** 40 + 1, sha256: '00'.repeat(32) });
  assert.throws(() => parseDescriptor(huge), /1 TiB/);
  assert.throws(() => fromHex('ABCD'), /hex/);

  // Metadata keys out of order, validly signed by the author: refused as not canonical, since
  // the same entry then has two encodings.
  const e = parseEntry(ENTRY);
  const signedWith = async (pairs) => signWithGoldenAuthor(encodeEntryUnsigned(e, pairs));
  const unsorted = await signedWith([['source', 'drone footage'], ['location', 'Kharkiv']]);
  assert.throws(() => parseEntry(unsorted), /not sorted and unique/);
  const twice = await signedWith([['location', 'Kharkiv'], ['location', 'Kyiv']]);
  assert.throws(() => parseEntry(twice), /not sorted and unique/);
  // Sorted as bytes, as std::string sorts: "Z" (0x5a) before "a" (0x61) before "é" (0xc3 0xa9).
  const bytewise = await signedWith([['Z', '1'], ['a', '2'], ['é', '3']]);
  assert.deepEqual(Object.keys(parseEntry(bytewise).metadata), ['Z', 'a', 'é']);
  // A key named __proto__ is an ordinary key, not the object's prototype.
  const proto = parseEntry(await signedWith([['__proto__', 'x']]));
  assert.deepEqual(Object.entries(proto.metadata), [['__proto__', 'x']]);
  assert.equal(await verifyEntrySignature(proto), true);

  const noCorrects = encodeEntryUnsigned({ ...e, corrects: null }, []);
  const badFlag = cat(noCorrects.subarray(0, -1), new Uint8Array([2]), new Uint8Array(64));
  assert.throws(() => parseEntry(badFlag), /corrects flag/);
  assert.throws(() => parseEntry(new Uint8Array(128 * 1024 + 1)), /128 KiB/);
});

test('file openings: each descriptor and salt against the signed commitment', async () => {
  const e = parseEntry(ENTRY);
  for (const i of [0, 1]) {
    const bytes = await goldenDescriptorBytes(i);
    assert.equal(await fileCommitment(COMMITMENT_SALTS[i], bytes), e.files[i]);
    const o = await checkFileOpening(e, i, toHex(bytes), toHex(COMMITMENT_SALTS[i]));
    assert.equal(o.ok, true, o.problem);
    assert.deepEqual(o.descriptor, parseDescriptor(bytes));
    assert.equal(o.commitment, e.files[i]);
  }
  const d0 = toHex(DESCRIPTOR);
  const s0 = toHex(COMMITMENT_SALTS[0]);
  const refused = async (index, d, s, why) => {
    const o = await checkFileOpening(e, index, d, s);
    assert.equal(o.ok, false);
    assert.equal(o.descriptor, null);
    assert.match(o.problem, why);
  };
  // A node that renames the file, changes its size or its hash, or gives another salt.
  const d = parseDescriptor(DESCRIPTOR);
  const renamed = encodeDescriptor({ ...d, name: 'witness statement.pdf.exe' });
  await refused(0, toHex(renamed), s0, /does not match the one the author signed/);
  const resized = encodeDescriptor({ ...d, size: 5001 });
  await refused(0, toHex(resized), s0, /does not match/);
  const rehashed = encodeDescriptor({ ...d, sha256: toHex(await sha256(new Uint8Array(5000))) });
  await refused(0, toHex(rehashed), s0, /does not match/);
  await refused(0, d0, toHex(COMMITMENT_SALTS[1]), /does not match/);
  // File 1's true opening given as file 0's, and the other way round.
  const d1 = toHex(await goldenDescriptorBytes(1));
  await refused(0, d1, toHex(COMMITMENT_SALTS[1]), /does not match/);
  await refused(1, d0, s0, /does not match/);
  // Numbers the entry does not have, a salt of the wrong length, bytes that are no descriptor.
  await refused(2, d0, s0, /signed 2 files in this entry; there is no file number 3/);
  await refused(-1, d0, s0, /no file number/);
  await refused(0, d0, s0.slice(2), /not 32 bytes/);
  await refused(0, d0.slice(0, -2), s0, /cannot be read .*truncated/);
  await refused(0, 'zz', s0, /cannot be read .*hex/);
});

test('a file is checked against the length and SHA-256 the author signed', async () => {
  const d = parseDescriptor(DESCRIPTOR);
  assert.deepEqual(await checkFileBytes(d, CONTENTS[0]),
    { ok: true, sha256: d.sha256, problems: [] });
  const bad = CONTENTS[0].slice();
  bad[4999] ^= 0x80;
  const r = await checkFileBytes(d, bad);
  assert.equal(r.ok, false);
  assert.deepEqual(r.problems,
    [`its SHA-256 is ${toHex(await sha256(bad))}; the author signed ${d.sha256}`]);
  const short = await checkFileBytes(d, CONTENTS[0].subarray(0, 4096));
  assert.equal(short.ok, false);
  assert.match(short.problems[0], /it has 4096 bytes; the author signed 5000/);
  assert.match(short.problems[1], /the author signed/);
  // The padding the sealed file carries (zero bytes up to 512 or the Padmé size) is not the file.
  const padded = cat(CONTENTS[0], new Uint8Array(8192 - 5000));
  assert.equal((await checkFileBytes(d, padded)).ok, false);
  const empty = parseDescriptor(await goldenDescriptorBytes(1));
  assert.equal((await checkFileBytes(empty, new Uint8Array(0))).ok, true);
  assert.equal((await checkFileBytes(empty, new Uint8Array(1))).ok, false);
});

// The checkpoint notes of docs/format.md section 13 (notes and cosignatures are the same in
// format 2; only the record under the leaf changed).
const NODE_KEY = '8515fa821cab20da2fcc8d82abe2eeb1d3cc7f44e47685afe9d1b952e223d492';
const NODE_ID = 'bd2e0d8db625127f5ce5df2cdb1d7cd79bb57c6d08edc0aecbefb7a868f9e140';
const CHECKPOINT1 = `khronika/${NODE_ID}\n1\nj62xr5IioLlqyO2rPzbQ6h+oA7w6Sd2xOLnWXD2jL4A=\n\n` +
  `— khronika/${NODE_ID} Ggu85fFpRDAfOD/0Y/Fo6Sd46uLNe/EnonzfQyD3qRh7XrkcrAZ5gjZpXr2mZMFjPGm6CNYEenZptdMIaQcO4gJd7wg=\n`;
const COSIGNED = 'khronika/c1ff9f767cb69860ecbc93f01183edc84ef555977d45ac85f44cddad3ca7a50f\n1\nZiB+QHSw9SGGiuv8KxIrTesP8ZBplikeSayh8Wc28yM=\n\n' +
  '— khronika/c1ff9f767cb69860ecbc93f01183edc84ef555977d45ac85f44cddad3ca7a50f OJHmKA9ZUpr8n6AQ7X5zLLzslWOMYfU+TfXQOFm7NA20N2UIrIn5alnsLauq1X1tHs/atUqOrC/wtBhoaz25SeNK7Ak=\n' +
  '— khronika/46fea9369b107b8d58df61f6d8cb22a2cfcfcec172c7ac87a758e50b6d58ba39/witness mmVvsAAAAABrDDrg6BTX/t3cYUYKJVqXremHIvPp+4dvta3HJvg0AAld6O4YyWLVUsF+2oBPcS6pNi1MBeS/3v1J8QhVVNh5MC2OCA==\n';
const B_WITNESS = 'khronika/46fea9369b107b8d58df61f6d8cb22a2cfcfcec172c7ac87a758e50b6d58ba39/witness+9a656fb0+BCwJR88Y9QsIuqJLnswwdUBNIzfDUpwbgC/MDsjhiJHE';

test('checkpoints: the origin signature and a cosignature verify, and a changed root does not', async () => {
  const cp = parseCheckpointNote(CHECKPOINT1);
  assert.equal(cp.size, 1);
  assert.equal(toHex(cp.root), '8fadb1af9222a0b96ac8edab3f36d0ea1fa803bc3a49ddb138b9d65c3da32f80');
  assert.deepEqual(await verifyCheckpointSignature(cp, NODE_KEY), { ok: true, problem: null });
  const other = parseCheckpointNote(CHECKPOINT1.replace('j62x', 'k62x'));
  assert.equal((await verifyCheckpointSignature(other, NODE_KEY)).ok, false);
  // A key that is not the origin's is refused before any signature is looked at.
  const wrongKey = await verifyCheckpointSignature(cp, 'fb02b028940ce4477ba1a135082cc6a61fb530de99f2ba5df1a76aeda3e30250');
  assert.equal(wrongKey.ok, false);
  assert.match(wrongKey.problem, /not the log of this key/);

  const cosigned = parseCheckpointNote(COSIGNED);
  assert.equal(cosigned.signatures.length, 2);
  assert.deepEqual(await verifyCosignature(cosigned, B_WITNESS), { ok: true, timestamp: 1795963616, problem: null });
  // A witness key whose base64 holds a '+' is read whole, not taken for malformed.
  const plusKey = `w+01020304+${Buffer.from([4, ...new Array(32).fill(0xfb)]).toString('base64')}`;
  assert.match(plusKey.split('+').slice(2).join('+'), /\+/);
  assert.deepEqual(await verifyCosignature(cosigned, plusKey), { ok: false, problem: 'no cosignature line by this witness key' });
  const tampered = parseCheckpointNote(COSIGNED.replace('\n1\n', '\n2\n'));
  assert.equal((await verifyCosignature(tampered, B_WITNESS)).ok, false);
});

// RFC 6962 tree hash of leaves[lo, hi), for building proofs to test against.
async function mth(leaves, lo, hi) {
  if (hi - lo === 1) return leaves[lo];
  let k = 1;
  while (k * 2 < hi - lo) k *= 2;
  return nodeHash(await mth(leaves, lo, lo + k), await mth(leaves, lo + k, hi));
}
async function path(leaves, m, lo, hi) {  // RFC 6962 PATH(m, D[lo:hi])
  if (hi - lo === 1) return [];
  let k = 1;
  while (k * 2 < hi - lo) k *= 2;
  if (m < k) return [...await path(leaves, m, lo, lo + k), toHex(await mth(leaves, lo + k, hi))];
  return [...await path(leaves, m - k, lo + k, hi), toHex(await mth(leaves, lo, lo + k))];
}

test('inclusion proofs: every leaf of every tree up to 17 leaves, and tampering fails', async () => {
  const leaves = [];
  for (let i = 0; i < 17; i++) leaves.push(await leafHash(new Uint8Array([i, 7, 7])));
  for (let n = 1; n <= 17; n++) {
    const root = await mth(leaves, 0, n);
    for (let m = 0; m < n; m++) {
      const proof = await path(leaves, m, 0, n);
      const ok = await verifyInclusion(m, n, leaves[m], proof, root);
      assert.equal(ok.ok, true, `leaf ${m} of ${n}`);
      assert.equal(ok.steps.length, proof.length);
      if (proof.length) {
        const bad = proof.slice();
        bad[0] = toHex(await sha256(new Uint8Array([1])));
        assert.equal((await verifyInclusion(m, n, leaves[m], bad, root)).ok, false);
        assert.equal((await verifyInclusion(m, n, leaves[m], proof.slice(1), root)).ok, false);
      }
      assert.equal((await verifyInclusion(m, n, leaves[(m + 1) % 17], proof, root)).ok, false);
    }
  }
  assert.equal((await verifyInclusion(3, 3, leaves[0], [], leaves[0])).ok, false);
  // The worked example's two-leaf tree (docs/format.md 13.5).
  const leaf0 = fromHex('8fadb1af9222a0b96ac8edab3f36d0ea1fa803bc3a49ddb138b9d65c3da32f80');
  const leaf1 = '1bc179f6f6e36ccebaacff175d507deb169f726fc6ca6c92147eed6aa43d1879';
  const root2 = fromHex('ccba5824338be118be635285744aacb284c4296c7b5b138407973129c5e3568a');
  const r = await verifyInclusion(0, 2, leaf0, [leaf1], root2);
  assert.equal(r.ok, true);
  assert.deepEqual(r.steps, [{ sibling: leaf1, side: 'right', result: toHex(root2) }]);
});

test('invisible and text-direction characters: the same list as schemas/include/khronika/schemas/text.h', () => {
  const header = readFileSync(new URL('../../schemas/include/khronika/schemas/text.h', import.meta.url), 'utf8');
  const body = header.slice(header.indexOf('kInvisibleCodePoints[] = {'), header.indexOf('};', header.indexOf('kInvisibleCodePoints[] = {')));
  const cxx = [...body.matchAll(/\{0x([0-9A-Fa-f]+), 0x([0-9A-Fa-f]+)\}/g)].map((m) => [parseInt(m[1], 16), parseInt(m[2], 16)]);
  assert.ok(cxx.length >= 10, `read only ${cxx.length} ranges from text.h`);
  assert.deepEqual(INVISIBLE_CODE_POINTS, cxx);
});

test('showInvisible writes out what would hide or reorder text, and nothing else', () => {
  assert.equal(showInvisible('photo\u202Egpj.exe'), 'photo<U+202E>gpj.exe');
  assert.equal(showInvisible('\uFEFFKhar\u200Bkiv\u061C\u00AD\u{E0041}'), '<U+FEFF>Khar<U+200B>kiv<U+061C><U+00AD><U+E0041>');
  for (const cp of [0x80, 0x9F, 0x200E, 0x200F, 0x202A, 0x202E, 0x2060, 0x2064, 0x2066, 0x2069, 0x3164, 0xFFF9, 0xE007F]) {
    assert.ok(isInvisibleCodePoint(cp), cp.toString(16));
  }
  // Persian with its zero width non-joiner, an emoji with ZWJ and a variation selector, Cyrillic,
  // tab and newline: shown as they are.
  for (const text of ['\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645', '\u{1F469}\u200D\u{1F4BB}', '\u2764\uFE0F', 'Харків', 'a\tb\nc', '']) {
    assert.equal(showInvisible(text), text);
  }
});
