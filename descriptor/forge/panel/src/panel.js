// The Customers panel on Forge: the service renders the HTML (one template for the Connect and Forge
// panels); this script only fetches fragments through Forge (invokeRemote adds the invocation token and
// the user's OAuth token) and sends the panel's forms back the same way.
import { invokeRemote, view } from '@forge/bridge';

const root = document.getElementById('cscx-panel');

function htmlOf(response) {
  // The service answers {"html": "..."}; invokeRemote gives the parsed body.
  const body = response && typeof response === 'object' && 'body' in response ? response.body : response;
  return body && typeof body === 'object' ? body.html || '' : String(body || '');
}

async function show(path, method = 'GET', body = undefined) {
  try {
    root.innerHTML = htmlOf(await invokeRemote({ path, method, body }));
  } catch (error) {
    root.textContent = 'The customers of this issue could not be loaded. Try again in a moment.';
  }
}

async function start() {
  const context = await view.getContext();
  const issue = (context.extension && context.extension.issue) || {};
  const project = (context.extension && context.extension.project) || {};
  const query = new URLSearchParams({ issueKey: issue.key || '', issueId: issue.id || '', projectKey: project.key || '' });
  root.addEventListener('submit', (event) => {
    const form = event.target.closest('form[data-forge-path]');
    if (!form) return;
    event.preventDefault();
    show(form.dataset.forgePath, (form.getAttribute('method') || 'POST').toUpperCase(),
      Object.fromEntries(new FormData(form)));
  });
  await show(`/forge/ui/panel?${query}`);
}

start();
