// The console's three views: cases (lawyers), logs (auditors), node (operators). Everything is
// built with DOM calls and textContent, never from HTML strings, so nothing a submitter wrote
// (file names, metadata) can become markup; and what a submitter wrote is shown through
// showInvisible, so an invisible or text-direction character (U+202E...) is written out as
// <U+202E> instead of hiding or reordering the text.
import {
  checkFileBytes, checkFileOpening, fromHex, parseCheckpointNote, parseEntry, parseRecord,
  leafHash, showInvisible, toHex, verifyCheckpointSignature, verifyCosignature,
  verifyEntrySignature, verifyInclusion,
} from './format.js';

// ---- DOM helpers ----

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function fmtTime(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return 'unknown';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return 'unknown';
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]} (${n.toLocaleString('en')} bytes)`;
}

function fmtAgo(ms) {
  if (!ms) return 'never';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 120) return `${s} seconds ago`;
  if (s < 7200) return `${Math.round(s / 60)} minutes ago`;
  if (s < 172800) return `${Math.round(s / 3600)} hours ago`;
  return `${Math.round(s / 86400)} days ago`;
}

const short = (hex) => (hex ? `${hex.slice(0, 16)}…` : '');

function hash(hex, label) {
  return h('code', { class: 'hash', title: label || hex }, hex);
}

function facts(pairs) {
  const dl = h('dl', { class: 'facts' });
  for (const [k, v] of pairs) {
    if (v === null || v === undefined) continue;
    dl.append(h('dt', { text: k }), h('dd', {}, v));
  }
  return dl;
}

function table(columns, rows, caption) {
  const head = h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.number ? 'number' : null, text: c.label })));
  const body = rows.map((row) => h('tr', {}, columns.map((c, i) =>
    h('td', { 'data-label': c.label, class: c.number ? 'number' : null }, row[i]))));
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'stack' }, caption ? h('caption', { class: 'muted', text: caption }) : null,
      h('thead', {}, head), h('tbody', {}, body)));
}

function message(kind, ...children) {
  return h('div', { class: `message ${kind}` }, ...children);
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, class: 'button secondary' }, `Save ${showInvisible(name)}`);
  return a;
}

// ---- lawyers: cases, a case's timeline, checked downloads, court bundles ----

export async function renderCases(ctx, view) {
  const { cases } = await ctx.api('/v1/cases');
  view.append(h('h1', { text: 'Your cases' }));
  if (ctx.session.all_cases) {
    view.append(h('p', { class: 'muted', text: 'This token may read every case recorded by this node.' }));
  }
  if (cases.length === 0) {
    view.append(message('', 'There are no cases to show. If you expected some, ask the node\'s operator which cases your token covers.'));
    return;
  }
  const rows = cases.map((c) => [
    h('a', { href: `#/cases/${encodeURIComponent(c.case)}` }, c.case),
    String(c.entries),
  ]);
  view.append(table([
    { label: 'Case' },
    { label: 'Entries recorded by this node', number: true },
  ], rows));
}

async function allCaseEntries(ctx, caseId) {
  const entries = [];
  let after = null;
  for (;;) {
    const page = await ctx.api(`/v1/cases/${encodeURIComponent(caseId)}/entries?limit=1000${after === null ? '' : `&after=${after}`}`);
    entries.push(...page.entries);
    if (page.next_after === null) return entries;
    after = page.next_after;
  }
}

export async function renderCase(ctx, view, caseId) {
  const [entries, witnessed, timestamped] = await Promise.all([
    allCaseEntries(ctx, caseId),
    ctx.api('/v1/checkpoint/witnessed').catch((e) => {
      if (e.status === 404) return null;
      throw e;
    }),
    // RFC 3161 timestamps by outside authorities, when the node has any (docs/api.md 7.26).
    ctx.api('/v1/checkpoint/timestamped').catch((e) => {
      if (e.status === 404) return null;
      throw e;
    }),
  ]);
  view.append(h('p', {}, h('a', { href: '#/cases' }, '← All cases')));
  view.append(h('h1', {}, `Case ${caseId}`));

  const bundleResult = h('div', { 'aria-live': 'polite', class: 'bundle-result' });
  const bundleButton = h('button', { type: 'button', id: 'bundle-button' }, 'Download the court bundle (.tar)');
  bundleButton.addEventListener('click', () => exportBundle(ctx, caseId, bundleButton, bundleResult, null));
  view.append(h('section', { class: 'panel', 'aria-labelledby': 'bundle-title' },
    h('h2', { id: 'bundle-title', text: 'Court bundle' }),
    h('p', {}, 'One archive with every entry and file of this case and everything that proves them: ',
      'signatures, the log records, proofs, checkpoints and partner organisations\' cosignatures. ',
      'Check it offline with ', h('code', {}, 'khronika verify-bundle'), ' and hand it over as it is.'),
    bundleButton, entries.length ? renderSelection(ctx, caseId, entries, bundleResult) : null, bundleResult));

  view.append(h('h2', {}, `Timeline (${entries.length} ${entries.length === 1 ? 'entry' : 'entries'})`));
  if (entries.length === 0) {
    view.append(message('', 'This node has recorded no entry of this case yet.'));
    return;
  }
  const cosigners = witnessed ? witnessed.cosignatures.map((c) => c.member) : [];
  const list = h('ol', { class: 'timeline', 'aria-label': `Entries of case ${caseId}, oldest first` });
  for (const e of entries) {
    list.append(renderEntry(ctx, caseId, e, witnessed, cosigners, timestamped));
  }
  view.append(list);
}

function renderEntry(ctx, caseId, e, witnessed, cosigners, timestamped) {
  const cosigned = witnessed && e.index < witnessed.size;
  const stamped = timestamped && e.index < timestamped.size ? timestamped.timestamps : [];
  const meta = Object.entries(e.metadata || {});
  const item = h('li', { class: 'panel entry', 'data-entry': e.entry_id },
    h('div', { class: 'entry-head' },
      h('h3', {}, `Record ${e.index}: ${e.kind}`),
      h('span', { class: 'muted' }, `recorded ${fmtTime(e.received_at_ms)}`)),
    facts([
      ['Recorded by the node', fmtTime(e.received_at_ms)],
      ['Dated by the author', `${fmtTime(e.created_at_ms)} (the author's own clock, not checked)`],
      ['Author key', hash(e.author)],
      ['Entry id', hash(e.entry_id)],
      ['Record number', `${e.index} in the log of node ${short(e.origin)}`],
      ['Cosigned by', cosigned
        ? h('span', {}, `${cosigners.length} partner organisation${cosigners.length === 1 ? '' : 's'}: `,
          cosigners.map((m, i) => [i ? ', ' : '', hash(m, `node ${m}`)]))
        : 'no partner organisation yet (their nodes cosign after they copy the log)'],
      stamped.length ? ['Timestamped', h('ul', {}, stamped.map((t) =>
        h('li', {}, `existed no later than ${t.gen_time}, by ${showInvisible(t.tsa_name)}`)))] : null,
      meta.length ? ['Details', h('ul', {}, meta.map(([k, v]) => h('li', {}, `${showInvisible(k)}: ${showInvisible(v)}`)))] : null,
    ].filter(Boolean)));
  if (e.files.length) {
    const files = h('ul', { class: 'files', 'aria-label': 'Files' });
    for (const f of e.files) {
      const name = showInvisible(f.name);
      const result = h('div', { class: 'file-result', 'aria-live': 'polite' });
      const button = h('button', { type: 'button', class: 'download' }, `Download and check ${name}`);
      button.addEventListener('click', () => downloadAndCheck(ctx, caseId, e, f, button, result));
      files.append(h('li', { class: 'file', 'data-file': f.name, 'data-index': String(f.index) },
        h('strong', {}, name), ' ', h('span', { class: 'muted' }, `${f.media_type}, ${fmtBytes(f.size)}`),
        facts([['SHA-256 signed by the author', hash(f.sha256)]]),
        button, result));
    }
    item.append(files);
  }
  return item;
}

// Whether the timeline's view of an entry (from the case listing, which the browser cannot check
// by itself) says what the signed entry says.
function sameEntry(entry, listed) {
  const signed = Object.entries(entry.metadata);
  const shown = Object.entries(listed.metadata || {});
  return entry.author === listed.author && entry.kind === listed.kind &&
    entry.created_at_ms === listed.created_at_ms && signed.length === shown.length &&
    shown.every(([k, v]) => Object.hasOwn(entry.metadata, k) && entry.metadata[k] === v);
}

// Downloads one file and checks it in the browser against what its author signed
// (docs/format-2.md section 5): the signed entry is of this case and entry, and the author's
// signature on it is valid; the record the node sent logs this entry; the file's descriptor and
// salt give the commitment the author signed at the file's place; then the file's length and
// SHA-256 are those of the descriptor. The browser holds no key: it opens no box, and checks
// only bytes against signatures and hashes.
async function downloadAndCheck(ctx, caseId, listed, file, button, result) {
  const entryId = listed.entry_id;
  button.disabled = true;
  result.replaceChildren();
  const steps = h('ol', { class: 'steps' });
  const shownName = showInvisible(file.name);
  const progress = h('progress', { max: String(Math.max(1, file.size)), value: '0', 'aria-label': `Download of ${shownName}` });
  const verdict = h('div', { class: 'verdict-slot' });
  result.append(verdict, steps, progress);
  const step = (text, kind = '') => steps.append(h('li', { class: kind }, text));
  const fail = (why) => {
    verdict.replaceChildren(message('failed', h('span', { class: 'verdict' }, `✗ Not verified: ${shownName}`), h('br'), why));
    progress.remove();
  };
  try {
    // Ids and indexes go into request paths: only the forms the API gives are used.
    if (!/^[0-9a-f]{64}$/.test(entryId) || !Number.isSafeInteger(file.index) || file.index < 0) {
      return fail('the timeline names this entry or file in a form that is not an entry id or a file number.');
    }
    const r = await ctx.api(`/v1/entries/${entryId}`);
    if (r.entry_id !== entryId) return fail('the node sent another entry than the one asked for.');
    const entry = parseEntry(fromHex(r.entry_hex));
    if (entry.case !== caseId) return fail(`the entry the node sent is of case ${showInvisible(entry.case)}, not of this case.`);
    const sig = await verifyEntrySignature(entry);
    if (sig === false) return fail('the author\'s signature on the entry is not valid.');
    step(sig ? `The author's signature on the entry is valid (key ${short(entry.author)}).`
      : 'This browser cannot check Ed25519 signatures: the author\'s signature was not checked here (khronika get and court bundles check it).',
    sig ? '' : 'muted');
    if (!sameEntry(entry, listed)) {
      return fail('the timeline shows this entry differently from what its author signed (author, kind, date or details).');
    }
    const recordBytes = fromHex(r.record.record_hex);
    const record = parseRecord(recordBytes);
    if (record.object_id !== entryId || record.index !== listed.index || record.origin !== listed.origin) {
      return fail(`the node's record ${listed.index} does not log this entry.`);
    }
    step(`Record ${record.index} of the log of node ${short(record.origin)} logs this entry (${short(entryId)}).`);

    const opening = (r.files || []).find((x) => x.index === file.index);
    if (!opening) return fail('the node did not send the file\'s signed description.');
    const opened = await checkFileOpening(entry, file.index, opening.descriptor_hex, opening.salt);
    if (!opened.ok) return fail(`${opened.problem}.`);
    const d = opened.descriptor;
    if (d.name !== file.name || d.size !== file.size || d.sha256 !== file.sha256 || d.media_type !== file.media_type) {
      return fail('the timeline shows this file differently from what its author signed (name, type, size or SHA-256).');
    }
    step(`The author signed this description of file ${file.index + 1} of ${entry.files.length}: ${showInvisible(d.name)}, ` +
      `${fmtBytes(d.size)}, SHA-256 ${d.sha256} (its salted commitment ${short(opened.commitment)} is in the signed entry).`);

    let bytes;
    try {
      bytes = await ctx.download(`/v1/entries/${entryId}/files/${file.index}/content`, d.size, (n) => {
        progress.value = n;
      });
    } catch (e) {
      if (e.partial || !e.status) throw e;
      // The node checks its sealed chunks as it reads them and refuses to send a damaged file.
      return fail(`the node did not send the file: ${e.message}. Tell the node's operator (khronika verify, khronika scrub).`);
    }
    step(`Downloaded ${fmtBytes(bytes.length)}.`);
    const check = await checkFileBytes(d, bytes);
    if (!check.ok) {
      return fail(h('span', {}, 'the file received is not the file the author signed: ',
        h('ul', { class: 'mismatch' }, check.problems.map((p) => h('li', { text: p })))));
    }
    step('The file has the length and the SHA-256 the author signed.');
    progress.remove();
    verdict.replaceChildren(message('verified',
      h('span', { class: 'verdict' }, `✓ Verified: ${showInvisible(d.name)}`), h('br'),
      `This is exactly the file the author signed (SHA-256 ${check.sha256}).`, h('br'),
      saveBlob(new Blob([bytes], { type: 'application/octet-stream' }), d.name)));
  } catch (e) {
    fail(e.partial ? e.message : `the check could not be completed: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

// Selective disclosure: a bundle of chosen entries and chosen file names. It still holds every
// record of the case (so that a court can see that none was left out), but opens only what was
// chosen; the rest stays sealed and the bundle carries no key that opens it.
function renderSelection(ctx, caseId, entries, result) {
  const entryBoxes = entries.map((e) => h('input', { type: 'checkbox', value: e.entry_id, id: `pick-entry-${e.index}` }));
  const names = [...new Set(entries.flatMap((e) => e.files.map((f) => f.name)))];
  const nameBoxes = names.map((n, i) => h('input', { type: 'checkbox', value: n, id: `pick-file-${i}` }));
  const pick = (box, label) => h('li', {}, box, h('label', { for: box.id, class: 'inline' }, label));
  const button = h('button', { type: 'button', class: 'secondary', id: 'bundle-selected-button' },
    'Download a bundle of what is chosen (.tar)');
  button.addEventListener('click', () => {
    const selection = {
      entries: entryBoxes.filter((b) => b.checked).map((b) => b.value),
      files: nameBoxes.filter((b) => b.checked).map((b) => b.value),
    };
    if (!selection.entries.length && !selection.files.length) {
      result.replaceChildren(message('failed', 'Choose at least one entry or one file name.'));
      return;
    }
    exportBundle(ctx, caseId, button, result, selection);
  });
  return h('details', { class: 'selection' },
    h('summary', {}, 'Disclose only some entries or files'),
    h('p', {}, 'The bundle still lists every record of this case, so that anyone can see that none ',
      'was left out, but it opens only the entries and files chosen here: the others stay sealed and ',
      'the bundle holds no key to them. With entries only, all their files are included; with file ',
      'names only, every entry holding a file of that name, with those files only.'),
    h('fieldset', {}, h('legend', {}, 'Entries'),
      h('ul', { class: 'picks' }, entries.map((e, i) => pick(entryBoxes[i],
        `Record ${e.index}: ${e.kind}, recorded ${fmtTime(e.received_at_ms)}`)))),
    names.length ? h('fieldset', {}, h('legend', {}, 'Files, by name'),
      h('ul', { class: 'picks' }, names.map((n, i) => pick(nameBoxes[i], showInvisible(n))))) : null,
    button);
}

async function exportBundle(ctx, caseId, button, result, selection) {
  button.disabled = true;
  result.replaceChildren(message('', 'Preparing the court bundle…'));
  try {
    const query = selection
      ? `?${[...selection.entries.map((id) => `entry=${encodeURIComponent(id)}`),
        ...selection.files.map((n) => `file=${encodeURIComponent(n)}`)].join('&')}`
      : '';
    const { bytes, headers } = await ctx.fetchBytes(`/v1/cases/${encodeURIComponent(caseId)}/bundle${query}`);
    const name = `khronika-bundle-${caseId}${selection ? '-selected' : ''}.tar`;
    const records = headers.get('X-Khronika-Entries');
    let what = 'the whole case';
    if (selection) {
      const n = selection.entries.length;
      const chosen = `${n} chosen ${n === 1 ? 'entry' : 'entries'}`;
      const named = `files named ${selection.files.map((f) => showInvisible(f)).join(', ')}`;
      if (!selection.files.length) what = `${chosen} with all their files`;
      else if (!n) what = `the ${named}, in every entry that holds one`;
      else what = `${chosen}, their ${named} only`;
    }
    result.replaceChildren(message('verified',
      h('span', { class: 'verdict' }, `Court bundle ready: ${fmtBytes(bytes.length)}, ${what}` +
        `${records ? ` (${records} records of the case)` : ''}.`), h('br'),
      'Check it with ', h('code', {}, `mkdir B && tar -xf ${name} -C B && khronika verify-bundle B`), '.', h('br'),
      saveBlob(new Blob([bytes], { type: 'application/x-tar' }), name)));
    result.querySelector('a').click();
  } catch (e) {
    result.replaceChildren(message('failed', h('span', { class: 'verdict' }, '✗ The court bundle could not be made'), h('br'), e.message));
  } finally {
    button.disabled = false;
  }
}

// ---- auditors: logs, checkpoints, cosigners, inclusion proofs, conflicts ----

export async function renderLogs(ctx, view) {
  const [{ logs }, { conflicts }] = await Promise.all([ctx.api('/v1/logs'), ctx.api('/v1/conflicts')]);
  view.append(h('h1', { text: 'Logs held by this node' }));
  view.append(h('p', { class: 'muted' },
    'Each log is signed by the node that keeps it (its origin). Partner organisations cosign a checkpoint after checking it ',
    'against their own copy. Signatures are checked here, in your browser.'));

  const form = renderProofForm(ctx, logs);
  for (const log of logs) view.append(await renderLog(log));
  view.append(form);

  view.append(h('h2', { text: 'Conflicts' }));
  if (conflicts.length === 0) {
    view.append(message('verified', 'No conflicting checkpoints: no node has been seen signing two different histories.'));
  } else {
    view.append(message('failed', h('span', { class: 'verdict' },
      `${conflicts.length} conflicting pair${conflicts.length === 1 ? '' : 's'} of checkpoints kept as proof`)));
    for (const c of conflicts) {
      view.append(h('section', { class: 'panel conflict' },
        h('h3', {}, c.proven ? 'Proven: the origin signed two histories that cannot both be true'
          : 'Not proven: a peer could not show these checkpoints consistent'),
        facts([['Log', hash(c.origin)], ['Seen', fmtTime(c.detected_ms)]]),
        h('p', { text: 'Held here:' }), h('pre', { class: 'note', text: c.held_checkpoint }),
        h('p', { text: 'Presented by a peer:' }), h('pre', { class: 'note', text: c.presented_checkpoint })));
    }
  }
}

async function renderLog(log) {
  const section = h('section', { class: 'panel log', 'data-origin': log.origin },
    h('h2', {}, log.local ? 'This node\'s own log' : 'A partner\'s log (copy)'));
  let signature = 'no checkpoint yet';
  let cosigners = 'none yet';
  if (log.checkpoint) {
    const cp = parseCheckpointNote(log.checkpoint);
    const sig = await verifyCheckpointSignature(cp, log.public_key);
    signature = sig.ok ? h('span', { class: 'badge good' }, '✓ signed by the origin (checked here)')
      : sig.ok === null ? h('span', { class: 'badge' }, 'not checked: this browser lacks Ed25519')
        : h('span', { class: 'badge bad' }, `✗ ${sig.problem}`);
    if (log.cosignatures.length) {
      const items = [];
      for (const c of log.cosignatures) {
        const v = await verifyCosignature(cp, c.vkey);
        items.push(h('li', {}, hash(c.member, `node ${c.member}`), ` at ${fmtTime(c.timestamp * 1000)} `,
          v.ok ? h('span', { class: 'badge good' }, '✓ cosignature valid under the key the node lists')
            : v.ok === null ? h('span', { class: 'badge' }, 'not checked here')
              : h('span', { class: 'badge bad' }, `✗ ${v.problem}`)));
      }
      cosigners = h('ul', { class: 'cosigners' }, items);
    }
  }
  section.append(facts([
    ['Origin (node id)', hash(log.origin)],
    ['Records held', String(log.records)],
    ['Latest checkpoint', log.checkpoint_size === null ? 'none' : `covers ${log.checkpoint_size} records`],
    ['Signature', signature],
    ['Cosigned by', cosigners],
  ]));
  if (log.checkpoint) section.append(h('details', {}, h('summary', {}, 'The signed checkpoint'), h('pre', { class: 'note', text: log.checkpoint })));
  return section;
}

function renderProofForm(ctx, logs) {
  const withCheckpoint = logs.filter((l) => l.checkpoint_size);
  const section = h('section', { class: 'panel', 'aria-labelledby': 'proof-title' },
    h('h2', { id: 'proof-title', text: 'Check that a record is in a log' }),
    h('p', {}, 'Your browser fetches the record and its inclusion proof, computes the Merkle root from them ',
      '(RFC 6962) and compares it with the root in the log\'s signed checkpoint.'));
  if (!withCheckpoint.length) {
    section.append(message('', 'No log has a record to check yet.'));
    return section;
  }
  const select = h('select', { id: 'proof-log' }, withCheckpoint.map((l) =>
    h('option', { value: l.origin }, `${l.local ? 'This node\'s log' : 'Partner log'} ${short(l.origin)} (${l.checkpoint_size} records)`)));
  const index = h('input', { id: 'proof-index', type: 'number', min: '0', step: '1', value: '0', inputmode: 'numeric', required: true });
  const result = h('div', { id: 'proof-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'inline-form', id: 'proof-form' },
    h('div', {}, h('label', { for: 'proof-log', text: 'Log' }), select),
    h('div', {}, h('label', { for: 'proof-index', text: 'Record number' }), index),
    h('button', { type: 'submit' }, 'Check inclusion'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const log = withCheckpoint.find((l) => l.origin === select.value);
    checkInclusion(ctx, log, index.value, result, form.querySelector('button'));
  });
  section.append(form, result);
  return section;
}

async function checkInclusion(ctx, log, indexText, result, button) {
  const steps = h('ol', { class: 'steps' });
  const verdict = h('div');
  result.replaceChildren(verdict, steps);
  const step = (...c) => steps.append(h('li', {}, ...c));
  const fail = (why) => verdict.replaceChildren(message('failed', h('span', { class: 'verdict' }, '✗ Not proven'), h('br'), why));
  const index = Number(indexText);
  if (!/^[0-9]+$/.test(indexText) || !Number.isSafeInteger(index)) return fail('the record number must be a whole number.');
  if (index >= log.checkpoint_size) {
    return fail(`the latest checkpoint of this log covers records 0 to ${log.checkpoint_size - 1}.`);
  }
  button.disabled = true;
  try {
    const cp = parseCheckpointNote(log.checkpoint);
    const sig = await verifyCheckpointSignature(cp, log.public_key);
    if (sig.ok === false) return fail(`the checkpoint is not validly signed: ${sig.problem}.`);
    step(`Checkpoint: the log had ${cp.size} records with Merkle root `, hash(toHex(cp.root)), sig.ok
      ? ', signed by the origin (signature checked here).' : ' (signature not checked: this browser lacks Ed25519).');
    const page = await ctx.api(`/v1/logs/${log.origin}/records?from=${index}&limit=1`);
    if (page.records.length !== 1 || page.records[0].index !== index) return fail('the node did not return that record.');
    const recordBytes = fromHex(page.records[0].record_hex);
    const record = parseRecord(recordBytes);
    if (record.origin !== log.origin || record.index !== index) return fail('the record the node sent is not record ' + index + ' of this log.');
    const leaf = await leafHash(recordBytes);
    step(`Record ${index} (object `, hash(record.object_id), `, received ${fmtTime(record.received_at_ms)}) has leaf hash `,
      hash(toHex(leaf)), ' = SHA-256(0x00 ‖ record), computed here.');
    const proof = await ctx.api(`/v1/proof/inclusion?index=${index}&size=${cp.size}&origin=${log.origin}`);
    const outcome = await verifyInclusion(index, cp.size, leaf, proof.proof, cp.root);
    outcome.steps.forEach((s, i) => step(`Level ${i + 1}: combined with the ${s.side === 'left' ? 'left' : 'right'} neighbour `,
      hash(s.sibling), ' → ', hash(s.result)));
    if (!outcome.ok) return fail(`${outcome.problem}.`);
    step('The computed root equals the checkpoint\'s root.');
    verdict.replaceChildren(message('verified', h('span', { class: 'verdict' }, `✓ Proven: record ${index} is in the log`), h('br'),
      `The record is part of the history the origin signed at ${cp.size} records; it cannot be removed or changed without contradicting that signature.`));
  } catch (e) {
    fail(`the check could not be completed: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

// ---- operators: status, peers, storage, access log ----

export async function renderNode(ctx, view) {
  const [status, access] = await Promise.all([ctx.api('/v1/node/status'), ctx.api('/v1/access-log?limit=50')]);
  view.append(h('h1', {}, `Node ${showInvisible(status.name)}`));
  const used = status.store_used_bytes;
  const map = status.store_map_bytes;
  const scrub = status.last_scrub;
  view.append(h('section', { class: 'panel', 'aria-labelledby': 'health-title' },
    h('h2', { id: 'health-title', text: 'Health' }),
    facts([
      ['Node id', hash(status.node_id)],
      ['Storage', h('span', {}, `${fmtBytes(used)} used of ${fmtBytes(map)} (${used / map < 0.0001 ? 'under 0.01' : (100 * used / map).toFixed(2)}%)`,
        h('progress', { max: String(map), value: String(used), 'aria-label': 'Storage used' }))],
      ['Last scrub', scrub ? `${fmtAgo(scrub.finished_ms)}: ${scrub.checked} items checked, ${scrub.damaged} damaged or missing, ${scrub.repaired} repaired${scrub.unrepaired ? `, ${scrub.unrepaired} NOT repaired` : ''}`
        : 'never run yet (serve runs one daily; or khronika scrub)'],
      ['Conflicts', status.conflicts ? h('span', { class: 'badge bad' }, `${status.conflicts} conflicting checkpoints: see khronika conflicts`)
        : h('span', { class: 'badge good' }, 'none')],
    ])));

  view.append(h('h2', { text: 'Peers' }));
  if (!status.peers.length) {
    view.append(message('warning', 'No peers: this node\'s evidence exists only here. Add partners with khronika peer add (see the operators\' guide).'));
  } else {
    view.append(table([{ label: 'Peer' }, { label: 'Address' }, { label: 'Last successful copy' }, { label: 'Records behind', number: true }, { label: 'Last error' }],
      status.peers.map((p) => [hash(p.node_id), p.url || '–',
        p.serve_only ? 'serve only: it pulls from this node, which never pulls from it'
          : 'last_success_ms' in p ? `${fmtAgo(p.last_success_ms)}${p.last_success_ms ? ` (${fmtTime(p.last_success_ms)})` : ''}` : 'not contacted yet',
        'lag_records' in p ? String(p.lag_records) : '–',
        p.last_error ? h('span', { class: 'badge bad' }, p.last_error) : 'none'])));
  }

  view.append(h('h2', { text: 'Logs held' }));
  view.append(table([{ label: 'Log' }, { label: 'Whose' }, { label: 'Records', number: true }, { label: 'Cosigned by', number: true }],
    status.logs.map((l) => [hash(l.origin), l.local ? 'this node' : 'partner (copy)', String(l.records),
      `${l.cosigners.length} partner${l.cosigners.length === 1 ? '' : 's'}`])));

  view.append(h('h2', { text: 'Recent access to evidence' }));
  if (!access.events.length) {
    view.append(message('', 'Nobody has read evidence content or exported a bundle yet.'));
  } else {
    // Where each event is: sealed into a custody record of the log, or still pending.
    view.append(table([{ label: 'Time' }, { label: 'Token' }, { label: 'Role' }, { label: 'Action' }, { label: 'What' }, { label: 'Case' }, { label: 'In the log' }],
      access.events.map((e) => [fmtTime(e.time_ms), h('code', {}, e.token_id), e.role, e.action,
        /^[0-9a-f]{64}$/.test(e.object) ? hash(e.object) : e.object, e.case,
        e.logged ? `record ${e.logged.record}` : 'pending']),
      'Newest first; the full list is khronika access-log. Events are sealed into custody records of this node\'s log within seconds.'));
  }
}
