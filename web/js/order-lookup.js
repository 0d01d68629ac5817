// Looking up one order: from the form, a link in the list, or the address (page load,
// back and forward); one lookup at a time, and every outcome gets a clear message.

import { GIVE_UP_AFTER_MS, TimedRequest, requestOrder, requestStatus } from './api.js';
import { pushIdToUrl, readIdFromUrl, replaceIdInUrl } from './address.js';
import { describeValue } from './json-values.js';
import { loadCourier } from './order-courier.js';
import { ID_RULE, describeIdProblem, extractId } from './order-id.js';
import { followOrder, stopFollowingOrder } from './order-live.js';
import { focusOrder, hideOrder, renderOrder } from './order-view.js';

const form = document.getElementById('lookup-form');
const idInput = document.getElementById('order-id');
const message = document.getElementById('message');

/** The lookup in flight, if any: { request: TimedRequest }. */
let activeLookup = null;

/** The id shown (or being looked up) right now, so a same-id popstate changes nothing. */
let currentId = null;

export function wireOrderLookup() {
  form.addEventListener('submit', handleSubmit);
  idInput.addEventListener('input', clearInvalidMark);
  window.addEventListener('popstate', handlePopState);
}

/** Opens order `id` as if its link was followed: a new address, the focus on the order. */
export function openOrder(id) {
  idInput.value = id;
  showOrder(id, { updateUrl: true, focusResult: true });
}

/** Renders whatever `?id=` the current URL holds (page load and back/forward). */
export function showOrderFromUrl() {
  const rawId = readIdFromUrl();
  if (rawId === null) {
    resetToIdle();
    return;
  }
  const id = rawId.trim();
  if (id !== rawId) {
    replaceIdInUrl(id);
  }
  idInput.value = id;
  showOrder(id, { updateUrl: false, focusResult: false });
}

function handleSubmit(event) {
  event.preventDefault();
  const id = extractId(idInput.value);
  idInput.value = id;
  showOrder(id, { updateUrl: true, focusResult: false });
}

function handlePopState() {
  const id = readIdFromUrl();
  if ((id === null ? null : id.trim()) === currentId) {
    return; // e.g. the skip link changed only the fragment, or back went to another search
  }
  showOrderFromUrl();
}

function resetToIdle() {
  cancelActiveLookup();
  currentId = null;
  idInput.value = '';
  clearInvalidMark();
  stopFollowingOrder();
  hideOrder();
  setMessage('idle', '');
}

function showOrder(id, { updateUrl, focusResult }) {
  cancelActiveLookup();
  currentId = id;

  const problem = describeIdProblem(id);
  if (problem) {
    stopFollowingOrder();
  hideOrder();
    showBadId(problem);
    return;
  }

  clearInvalidMark();
  if (updateUrl) {
    pushIdToUrl(id);
  }
  lookUpOrder(id, focusResult);
}

function showBadId(text) {
  setMessage('bad-id', text);
  idInput.setAttribute('aria-invalid', 'true');
  idInput.setAttribute('aria-describedby', 'message order-id-hint');
  idInput.focus();
}

function clearInvalidMark() {
  idInput.removeAttribute('aria-invalid');
  idInput.setAttribute('aria-describedby', 'order-id-hint');
}

async function lookUpOrder(id, focusResult) {
  const request = new TimedRequest(() => {
    setMessage('slow', `Loading order ${id}… still waiting, the service is slow.`);
  });
  const lookup = { request };
  activeLookup = lookup;

  stopFollowingOrder();
  hideOrder();
  setMessage('loading', `Loading order ${id}…`);

  // The document has no status: it comes from its own endpoint, asked at the same time.
  // Who delivers it comes from the courier service, which the order does not wait for.
  const statusRequest = requestStatus(id, request.signal);
  loadCourier(id);
  const outcome = await request.outcome(async (signal) => {
    const answer = await requestOrder(id, signal);
    if (answer.kind === 'found') {
      answer.status = await statusRequest;
    }
    return answer;
  });

  if (activeLookup !== lookup) {
    return; // a newer lookup (or a reset) took over; its answer wins
  }
  activeLookup = null;
  showOutcome(id, outcome, focusResult);
}

function cancelActiveLookup() {
  if (activeLookup) {
    activeLookup.request.cancel();
    activeLookup = null;
  }
}

function showOutcome(id, outcome, focusResult) {
  switch (outcome.kind) {
    case 'found':
      renderOrder(outcome.order, outcome.status);
      followOrder(id, outcome.order, outcome.version, outcome.status, () => lookUpOrder(id, false));
      setMessage('found', `Showing order ${id}.`);
      if (focusResult) {
        focusOrder();
      }
      return;
    case 'not-found':
      setMessage('not-found', `No order with id ${id}. Check the id, or pick one of the newest orders below.`);
      break;
    case 'bad-id':
      showBadId(outcome.detail === undefined || outcome.detail === ''
        ? `Malformed id: ${ID_RULE}`
        : `Malformed id: ${describeValue(outcome.detail)}`);
      return;
    case 'timeout':
      setMessage('unreachable',
        `The order service did not answer within ${GIVE_UP_AFTER_MS / 1000} seconds. Please try again.`);
      break;
    case 'unavailable':
      setMessage('unreachable', outcome.detail
        ? `The order service cannot answer right now: ${describeValue(outcome.detail)}`
        : 'The order service cannot answer right now. Please try again shortly.');
      break;
    case 'unexpected':
      setMessage('unreachable',
        `The order service gave an unexpected answer (HTTP ${outcome.status}). Please try again.`);
      break;
    default:
      setMessage('unreachable', 'The order service is unreachable. Check your connection and try again.');
  }
  if (focusResult) {
    idInput.focus();
  }
}

function setMessage(state, text) {
  message.dataset.state = state;
  message.textContent = text;
  message.setAttribute('aria-busy', String(state === 'loading' || state === 'slow'));
}
