// The order document as served: shown on request, and copied to the clipboard.

const toggle = document.getElementById('raw-toggle');
const copyButton = document.getElementById('copy-json');
const copyStatus = document.getElementById('copy-status');
const rawJson = document.getElementById('raw-json');

/** The document shown, if any: what "Copy JSON" copies. */
let shownDocument = null;

export function wireRawJson() {
  toggle.addEventListener('click', toggleRawJson);
  copyButton.addEventListener('click', copyRawJson);
}

export function showRawJson(order) {
  shownDocument = order;
  rawJson.textContent = JSON.stringify(order, null, 2);
  copyStatus.textContent = '';
}

export function forgetRawJson() {
  shownDocument = null;
}

function toggleRawJson() {
  const willShow = toggle.getAttribute('aria-expanded') !== 'true';
  toggle.setAttribute('aria-expanded', String(willShow));
  toggle.textContent = willShow ? 'Hide raw JSON' : 'Show raw JSON';
  rawJson.hidden = !willShow;
}

async function copyRawJson() {
  if (!shownDocument) {
    return;
  }
  const text = JSON.stringify(shownDocument, null, 2);
  try {
    if (!navigator.clipboard || !window.isSecureContext) {
      throw new Error('Clipboard API not available');
    }
    await navigator.clipboard.writeText(text);
    copyStatus.textContent = 'Copied to the clipboard.';
  } catch {
    selectRawJson();
    copyStatus.textContent =
      'Could not copy automatically. The JSON is shown and selected: press Ctrl+C (⌘C on a Mac) to copy it.';
  }
}

/** Fallback for copying: reveal the JSON and select it so the user can copy it by hand. */
function selectRawJson() {
  if (rawJson.hidden) {
    toggleRawJson();
  }
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.selectAllChildren(rawJson);
  rawJson.focus();
}
