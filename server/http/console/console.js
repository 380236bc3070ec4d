// The console's entry point: sign-in, the token (sessionStorage only), calls to the node's API,
// and the views by address (#/cases, #/cases/ID, #/logs, #/node).
import { concatAll } from './format.js';
import { h, renderCase, renderCases, renderLogs, renderNode } from './views.js';

const TOKEN_KEY = 'khronika.token';
const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// One place that talks to the node: same origin only, the token as a bearer header, nothing
// cached, no referrer, no cookies.
async function call(token, path, init = {}) {
  const response = await fetch(path, {
    ...init,
    headers: { Authorization: `Bearer ${token}`, ...(init.headers || {}) },
    cache: 'no-store',
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
  });
  if (!response.ok) {
    let code = 'error';
    let text = `the node answered ${response.status}`;
    try {
      const body = await response.json();
      code = body.error || code;
      text = body.message || text;
    } catch (e) {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, code, text);
  }
  return response;
}

// Reads a body to its end, reporting progress; a connection cut short (the node stops a
// download when a stored chunk fails its own check) becomes an error that says so.
async function readAll(response, expected, onProgress) {
  const reader = response.body.getReader();
  const parts = [];
  let received = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      received += value.length;
      if (onProgress) onProgress(received);
    }
  } catch (e) {
    const err = new Error(`the node stopped sending after ${received} of ${expected ?? '?'} bytes. ` +
      'It may have found its stored copy damaged; tell the node\'s operator (khronika verify, khronika scrub).');
    err.partial = true;
    throw err;
  }
  return concatAll(parts);
}

const state = { token: null, session: null };

function context() {
  const { token } = state;
  const guard = async (promise) => {
    try {
      return await promise;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        signOut('The node no longer accepts this token (it may have been revoked). Sign in again.');
      }
      throw e;
    }
  };
  return {
    session: state.session,
    api: (path) => guard(call(token, path).then((r) => r.json())),
    download: (path, expected, onProgress) => guard(call(token, path).then((r) => readAll(r, expected, onProgress))),
    fetchBytes: (path) => guard(call(token, path).then(async (r) => ({ headers: r.headers, bytes: await readAll(r, Number(r.headers.get('Content-Length'))) }))),
  };
}

function tabsFor(session) {
  const tabs = [];
  if (session.may.read_entries) tabs.push(['#/cases', 'Cases']);
  if (session.may.read_log) tabs.push(['#/logs', 'Logs']);
  if (session.may.administer) tabs.push(['#/node', 'Node']);
  return tabs;
}

function showSignIn(error) {
  state.token = null;
  state.session = null;
  $('view').hidden = true;
  $('view').replaceChildren();
  $('nav').hidden = true;
  $('who').hidden = true;
  $('node-name').textContent = '';
  $('sign-in').hidden = false;
  const err = $('sign-in-error');
  err.hidden = !error;
  err.textContent = error || '';
  document.title = 'Sign in · Khronika console';
  $('token').focus();
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (location.hash) history.replaceState(null, '', location.pathname);
  showSignIn(reason);
}

async function signIn(token) {
  let session;
  try {
    session = await call(token, '/v1/session').then((r) => r.json());
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showSignIn('The node refused this token. Check that you copied all of it, or ask the node\'s operator for a new one.');
    }
    return showSignIn(`The node could not be reached: ${e.message}`);
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.token = token;
  state.session = session;
  $('token').value = '';
  $('sign-in').hidden = true;
  $('sign-in-error').hidden = true;
  $('node-name').textContent = `node ${session.node.name}`;
  const roleWords = { reader: 'lawyer (reader)', auditor: 'auditor', admin: 'operator (admin)', submitter: 'submitter' };
  $('who-text').textContent = `Signed in as ${roleWords[session.role] || session.role}` +
    (session.all_cases ? '' : `, cases ${session.cases.join(', ')}`);
  $('who').hidden = false;
  const tabs = tabsFor(session);
  $('tabs').replaceChildren(...tabs.map(([href, label]) => h('li', {}, h('a', { href }, label))));
  $('nav').hidden = tabs.length === 0;
  $('view').hidden = false;
  // An operator starts at the node's health; everyone else at their first view.
  if (!location.hash && tabs.length) history.replaceState(null, '', session.may.administer ? '#/node' : tabs[0][0]);
  await route();
}

let routing = 0;
async function route() {
  if (!state.session) return;
  const ticket = ++routing;
  const view = $('view');
  const hash = location.hash || '';
  for (const a of document.querySelectorAll('#tabs a')) {
    const current = hash === a.getAttribute('href') || hash.startsWith(`${a.getAttribute('href')}/`);
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const fresh = h('div', { class: 'loading', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading…'));
  view.replaceChildren(fresh);
  const target = h('div');
  const ctx = context();
  let title = 'Khronika console';
  try {
    const caseMatch = /^#\/cases\/(.+)$/.exec(hash);
    if (caseMatch && ctx.session.may.read_entries) {
      const caseId = decodeURIComponent(caseMatch[1]);
      title = `Case ${caseId}`;
      await renderCase(ctx, target, caseId);
    } else if (hash === '#/cases' && ctx.session.may.read_entries) {
      title = 'Cases';
      await renderCases(ctx, target);
    } else if (hash === '#/logs' && ctx.session.may.read_log) {
      title = 'Logs';
      await renderLogs(ctx, target);
    } else if (hash === '#/node' && ctx.session.may.administer) {
      title = 'Node';
      await renderNode(ctx, target);
    } else if (tabsFor(ctx.session).length === 0) {
      target.append(h('h1', {}, 'Nothing to show for this token'),
        h('p', {}, 'This token is for submitting evidence with khronika submit; it cannot read cases or logs.'));
    } else {
      target.append(h('h1', {}, 'Page not found'),
        h('p', {}, 'Choose a view above.'));
    }
  } catch (e) {
    if (!state.session) return;
    target.replaceChildren(h('h1', {}, 'Something went wrong'),
      h('p', { class: 'message failed', role: 'alert' }, e.message));
  }
  if (ticket !== routing) return;
  view.replaceChildren(target);
  document.title = `${title} · Khronika console`;
  $('main').focus();
}

function start() {
  $('sign-in-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = $('token').value.trim();
    if (!token) return showSignIn('Enter a token.');
    $('sign-in-button').disabled = true;
    signIn(token).finally(() => {
      $('sign-in-button').disabled = false;
    });
  });
  $('sign-out').addEventListener('click', () => signOut('You are signed out.'));
  window.addEventListener('hashchange', route);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
  else showSignIn();
}

start();
