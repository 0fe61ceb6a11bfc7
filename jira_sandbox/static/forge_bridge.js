// @forge/bridge as the Jira sandbox provides it to the Custom UI pages it hosts (their import map points here).
//
// Forge's own bridge hands a call to Atlassian, which signs a Forge Invocation Token and calls the app's remote.
// Here the sandbox plays Atlassian: invokeRemote posts to /_forge/bridge/invoke with this frame's token (minted
// by the page that rendered the iframe, carried in the URL's fragment), and the sandbox signs the FIT and calls
// the remote. No key, FIT or OAuth token ever reaches the browser.
// What is here: invokeRemote (custom headers are not passed on), view.getContext, view.theme.enable, and the
// iframe keeping its content's height.

const FRAME = new URLSearchParams(window.location.hash.slice(1)).get('frame') || '';

class BridgeError extends Error {}

async function ask(path, init = {}) {
  const response = await fetch(`/_forge/bridge/${path}`, {
    ...init,
    credentials: 'omit',
    headers: { 'Content-Type': 'application/json', 'X-Forge-Frame': FRAME },
  });
  let answer = null;
  try {
    answer = await response.json();
  } catch (error) {
    answer = null;
  }
  if (!response.ok) {
    const messages = (answer && answer.errorMessages) || [];
    throw new BridgeError(messages[0] || `The bridge call failed (${response.status}).`);
  }
  return answer;
}

// Like Forge: resolves {status, headers, body} for 2xx, and for other answers that carry a JSON body;
// rejects when the remote answers 401 (reserved for a refused invocation token) or cannot be reached.
export async function invokeRemote({ path, method = 'GET', body } = {}) {
  const answer = await ask('invoke', { method: 'POST', body: JSON.stringify({ path, method, body }) });
  if (answer.status === 401) {
    throw new BridgeError('The remote refused the invocation (401).');
  }
  const ok = answer.status >= 200 && answer.status < 300;
  if (!ok && (answer.body === null || typeof answer.body !== 'object')) {
    throw new BridgeError(`The remote answered ${answer.status} without a JSON body.`);
  }
  return answer;
}

let context;

export const view = {
  async getContext() {
    context = context || ask('context');
    return context;
  },
  theme: {
    async enable() {},
  },
};

// Forge sizes a Custom UI iframe to its content; the sandbox's pages are same-origin, so the frame does it here.
function fitFrame() {
  const frame = window.frameElement;
  if (frame && document.body) {
    frame.style.height = `${Math.ceil(document.body.getBoundingClientRect().height) + 16}px`;
  }
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', () => new ResizeObserver(fitFrame).observe(document.body));
} else {
  new ResizeObserver(fitFrame).observe(document.body);
}
