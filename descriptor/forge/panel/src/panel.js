// The app's Custom UI on Forge: the Customers panel of an issue, and the admin page where a Jira admin links the
// site to a CSCX.AI workspace. The service renders the HTML (the Connect panel's templates), so both apps look and
// behave alike; this script only moves it. Every call goes through Forge's invokeRemote, which adds the invocation
// token and the user's OAuth token on Atlassian's side: the page itself never holds a credential.
//
// What the fragments ask of it, with data attributes:
//   form[data-forge-path]     submit = invokeRemote(path, the form's method, its fields as a JSON body)
//   form[data-forge-target]   the answer replaces that element's content (else the whole panel)
//   form[data-forge-live]     also submitted as the user types (the type-ahead, 200 ms after the last key)
//   [data-remove-ask] / [data-remove-cancel] inside .remove-step: Remove asks for a second, in-panel click
//                             (Confirm remove submits), Escape or Cancel takes it back: the Connect panel's way
import { invokeRemote, view } from '@forge/bridge';

const root = document.getElementById('cscx-panel');
const TYPE_AHEAD_DELAY_MS = 200; // the Connect panel's `delay:200ms`
const ADMIN_PAGE = 'jira:adminPage';
const UNREACHABLE = 'CSCX could not be reached just now. Try again in a moment.';
// Answers can overtake each other (a slow search for "ac" after the one for "acm"): per target, the newest wins.
const newest = new WeakMap();
let typing;

function htmlOf(response) {
  // The service answers {"html": "..."}; invokeRemote resolves {status, headers, body} (older bridges: the body).
  const body = response && typeof response === 'object' && 'body' in response ? response.body : response;
  return body && typeof body === 'object' ? body.html || '' : String(body || '');
}

function showError(message) {
  let alert = root.querySelector(':scope > .forge-error');
  if (!alert) {
    alert = document.createElement('p');
    alert.className = 'alert alert-error forge-error';
    alert.setAttribute('role', 'alert');
    root.prepend(alert);
  }
  alert.textContent = message;
}

async function show(path, { method = 'GET', body, into = root } = {}) {
  const ticket = (newest.get(into) || 0) + 1;
  newest.set(into, ticket);
  try {
    const html = htmlOf(await invokeRemote({ path, method, body }));
    if (newest.get(into) !== ticket) return false;
    into.innerHTML = html;
    return true;
  } catch (error) {
    if (newest.get(into) === ticket) showError(UNREACHABLE);
    return false;
  }
}

async function send(form) {
  const target = form.dataset.forgeTarget ? document.getElementById(form.dataset.forgeTarget) : null;
  const removing = form.classList.contains('remove-step');
  // One click, one change: the form's buttons wait for the answer (a failed call gives them back).
  const buttons = [...form.querySelectorAll('button[type=submit]')];
  buttons.forEach((button) => { button.disabled = true; });
  const shown = await show(form.dataset.forgePath, {
    method: (form.getAttribute('method') || 'POST').toUpperCase(),
    body: Object.fromEntries(new FormData(form)),
    into: target || root,
  });
  if (!shown) buttons.forEach((button) => { button.disabled = false; });
  // The confirm button went with the old list: keep keyboard focus in the panel, on the new count.
  const summary = root.querySelector('.summary');
  if (shown && removing && summary) summary.focus();
}

function confirmParts(step) {
  return { ask: step.querySelector('[data-remove-ask]'), confirm: step.querySelector('.remove-confirm') };
}

function closeConfirm(step, refocus) {
  const parts = confirmParts(step);
  parts.confirm.hidden = true;
  parts.ask.hidden = false;
  if (refocus) parts.ask.focus();
}

function openConfirm(step) {
  root.querySelectorAll('.remove-step').forEach((other) => { if (other !== step) closeConfirm(other, false); });
  const parts = confirmParts(step);
  parts.ask.hidden = true;
  parts.confirm.hidden = false;
  parts.confirm.querySelector('.remove-yes').focus();
}

root.addEventListener('submit', (event) => {
  const form = event.target.closest('form[data-forge-path]');
  if (!form) return;
  event.preventDefault();
  clearTimeout(typing);
  send(form);
});

root.addEventListener('click', (event) => {
  const ask = event.target.closest('[data-remove-ask]');
  const cancel = event.target.closest('[data-remove-cancel]');
  if (ask) openConfirm(ask.closest('.remove-step'));
  if (cancel) closeConfirm(cancel.closest('.remove-step'), true);
});

root.addEventListener('keydown', (event) => {
  const step = event.key === 'Escape' && event.target.closest('.remove-step');
  if (step && !confirmParts(step).confirm.hidden) closeConfirm(step, true);
});

root.addEventListener('input', (event) => {
  const form = event.target.closest('form[data-forge-live]');
  if (!form) return;
  clearTimeout(typing);
  typing = setTimeout(() => send(form), TYPE_AHEAD_DELAY_MS);
});

async function start() {
  const context = await view.getContext();
  const extension = context.extension || {};
  if (extension.type === ADMIN_PAGE) {
    await show('/forge/ui/configure');
    return;
  }
  const issue = extension.issue || {};
  const project = extension.project || {};
  const query = new URLSearchParams({ issueKey: issue.key || '', issueId: issue.id || '', projectKey: project.key || '' });
  await show(`/forge/ui/panel?${query}`);
}

start().catch(() => showError(UNREACHABLE));
