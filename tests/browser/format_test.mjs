// Unit tests of the console's checks (server/http/console/format.js) under Node.js's own test
// runner, on the worked example of docs/format.md section 13 (real bytes made by the binary) and
// on RFC 6962 trees built here. Run: node --test tests/browser/format_test.mjs
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import {
  INVISIBLE_CODE_POINTS, checkFileBytes, fromHex, isInvisibleCodePoint, leafHash, nodeHash,
  parseCheckpointNote, parseEntry, parseManifest, parseRecord, sha256, showInvisible, toHex,
  verifyCheckpointSignature, verifyCosignature, verifyEntrySignature, verifyInclusion,
} from '../../server/http/console/format.js';

// docs/format.md section 13.
const NODE_KEY = '8515fa821cab20da2fcc8d82abe2eeb1d3cc7f44e47685afe9d1b952e223d492';
const NODE_ID = 'bd2e0d8db625127f5ce5df2cdb1d7cd79bb57c6d08edc0aecbefb7a868f9e140';
const ENTRY_HEX = '0145010800000000000000636173652d303031fb02b028940ce4477ba1a135082cc6a61fb530de99f2ba5df1a76aeda3e3' +
  '0250ca977327a2010000080000000000000065766964656e636501000000000000001fecdd661aabb25a012f65376db3' +
  '47bb04d02ba0738d96e12e5bcb07357be8b2020000000000000008000000000000006c6f636174696f6e070000000000' +
  '00004b6861726b69760600000000000000736f7572636507000000000000007769746e6573730045f11727335f91c4c4' +
  '210068b7d88a8d8be2e314593e94d27743cf2963abb95621cb663c0d4a09a328650ed90c1942d314d4b3d23c131522bd' +
  '5bf32932d75203';
const ENTRY_ID = '9a1d6c5d735454dfb3f58527f9611bdcb56773f2219551f7066f9061d87e1952';
const MANIFEST_HEX = '014d010d0000000000000073746174656d656e742e7478740a00000000000000746578742f706c61696e0d00000000000000' +
  'c840887c51780246ef2969e3b0156c227e44821651e9432569c0963ab231c38b0100000000000000c840887c51780246ef29' +
  '69e3b0156c227e44821651e9432569c0963ab231c38b';
const MANIFEST_ID = '1fecdd661aabb25a012f65376db347bb04d02ba0738d96e12e5bcb07357be8b2';
const RECORD0_HEX = '015201bd2e0d8db625127f5ce5df2cdb1d7cd79bb57c6d08edc0aecbefb7a868f9e14000000000000000000000000000' +
  '0000000000000000000000000000000000000000000000000000009a1d6c5d735454dfb3f58527f9611bdcb56773f221' +
  '9551f7066f9061d87e19520000000000000000000000000000000000000000000000000000000000000000ca977327a2010000';
const CHECKPOINT1 = `khronika/${NODE_ID}\n1\nj62xr5IioLlqyO2rPzbQ6h+oA7w6Sd2xOLnWXD2jL4A=\n\n` +
  `— khronika/${NODE_ID} Ggu85fFpRDAfOD/0Y/Fo6Sd46uLNe/EnonzfQyD3qRh7XrkcrAZ5gjZpXr2mZMFjPGm6CNYEenZptdMIaQcO4gJd7wg=\n`;
const COSIGNED = 'khronika/c1ff9f767cb69860ecbc93f01183edc84ef555977d45ac85f44cddad3ca7a50f\n1\nZiB+QHSw9SGGiuv8KxIrTesP8ZBplikeSayh8Wc28yM=\n\n' +
  '— khronika/c1ff9f767cb69860ecbc93f01183edc84ef555977d45ac85f44cddad3ca7a50f OJHmKA9ZUpr8n6AQ7X5zLLzslWOMYfU+TfXQOFm7NA20N2UIrIn5alnsLauq1X1tHs/atUqOrC/wtBhoaz25SeNK7Ak=\n' +
  '— khronika/46fea9369b107b8d58df61f6d8cb22a2cfcfcec172c7ac87a758e50b6d58ba39/witness mmVvsAAAAABrDDrg6BTX/t3cYUYKJVqXremHIvPp+4dvta3HJvg0AAld6O4YyWLVUsF+2oBPcS6pNi1MBeS/3v1J8QhVVNh5MC2OCA==\n';
const B_WITNESS = 'khronika/46fea9369b107b8d58df61f6d8cb22a2cfcfcec172c7ac87a758e50b6d58ba39/witness+9a656fb0+BCwJR88Y9QsIuqJLnswwdUBNIzfDUpwbgC/MDsjhiJHE';

test('the worked example: entry, manifest and record read as docs/format.md says', async () => {
  const entryBytes = fromHex(ENTRY_HEX);
  assert.equal(toHex(await sha256(entryBytes)), ENTRY_ID);
  const e = parseEntry(entryBytes);
  assert.equal(e.case, 'case-001');
  assert.equal(e.author, 'fb02b028940ce4477ba1a135082cc6a61fb530de99f2ba5df1a76aeda3e30250');
  assert.equal(e.created_at_ms, 1795958216650);
  assert.equal(e.kind, 'evidence');
  assert.deepEqual(e.manifests, [MANIFEST_ID]);
  assert.deepEqual(e.metadata, { location: 'Kharkiv', source: 'witness' });
  assert.equal(e.corrects, null);
  assert.equal(e.unsigned.length, 184);
  assert.equal(toHex(await sha256(e.unsigned)), 'bddc462ac7c092d1447f82f4397291dd9d2c542959b82283c79caec9ee2b0261');
  assert.equal(await verifyEntrySignature(e), true);
  const forged = fromHex(ENTRY_HEX);
  forged[147] ^= 1;  // "Kharkiv" -> "Jharkiv"
  assert.equal(await verifyEntrySignature(parseEntry(forged)), false);

  const manifestBytes = fromHex(MANIFEST_HEX);
  assert.equal(toHex(await sha256(manifestBytes)), MANIFEST_ID);
  const m = parseManifest(manifestBytes);
  assert.deepEqual(m, {
    name: 'statement.txt', media_type: 'text/plain', size: 13,
    sha256: 'c840887c51780246ef2969e3b0156c227e44821651e9432569c0963ab231c38b',
    chunks: ['c840887c51780246ef2969e3b0156c227e44821651e9432569c0963ab231c38b'],
  });

  const r = parseRecord(fromHex(RECORD0_HEX));
  assert.equal(r.origin, NODE_ID);
  assert.equal(r.index, 0);
  assert.equal(r.entry_id, ENTRY_ID);
  assert.equal(r.received_at_ms, 1795958216650);
  assert.equal(toHex(await leafHash(fromHex(RECORD0_HEX))), '8fadb1af9222a0b96ac8edab3f36d0ea1fa803bc3a49ddb138b9d65c3da32f80');
});

test('objects that are not canonical are refused', () => {
  assert.throws(() => parseEntry(fromHex(ENTRY_HEX).subarray(0, 200)), /truncated/);
  assert.throws(() => parseEntry(fromHex(`${ENTRY_HEX}00`)), /left over/);
  assert.throws(() => parseManifest(fromHex(ENTRY_HEX)), /not a version 1 'M'/);
  assert.throws(() => parseRecord(fromHex(RECORD0_HEX.slice(2))), /147/);
  assert.throws(() => fromHex('ABCD'), /hex/);
});

test('a file is checked piece by piece and as a whole against its manifest', async () => {
  const m = parseManifest(fromHex(MANIFEST_HEX));
  const good = new TextEncoder().encode('hello, court\n');
  assert.deepEqual(await checkFileBytes(m, good), { ok: true, sha256: m.sha256, problems: [] });
  const bad = good.slice();
  bad[0] ^= 1;
  const r = await checkFileBytes(m, bad);
  assert.equal(r.ok, false);
  assert.match(r.problems[0], /piece 1 of 1/);
  assert.match(r.problems[1], /the author signed c840887c/);
  const short = await checkFileBytes(m, good.subarray(0, 5));
  assert.match(short.problems[0], /it has 5 bytes; the signed description says 13/);
});

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
