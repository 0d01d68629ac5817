// Who delivers the order shown: its card asks the courier API (on the same origin, behind
// the ingress) at the same time as the order is looked up. The order never waits for it,
// and when no courier API answers here the card says so and the rest of the order stands.

import { TimedRequest, requestAssignment } from './api.js';
import { createElement, createValueCell } from './elements.js';
import { createTimeElement, parseIsoDate } from './format.js';
import { describeTransport, createCourierStatusBadge } from './courier-format.js';
import { describeValue, isPlainObject } from './json-values.js';

const note = document.getElementById('courier-note');
const fields = document.getElementById('courier-fields');

/** What the card says when no courier is shown, by the assignment's state or the outcome. */
const NOTES = {
  loading: 'Loading who delivers this order…',
  waiting: 'Waiting for a courier: none is free yet. The order gets the next one who is.',
  pending: 'The courier service is still learning this order’s status.',
  parked: 'The courier service gave up learning this order’s status for now; a new event about the order starts it again.',
  cancelled: 'The order was cancelled before a courier took it.',
  completed: 'The order was completed without a courier of ours.',
  erased: 'The order was erased; a courier who was delivering it was freed.',
  unseen: 'The courier service has not seen this order yet.',
  unavailable: 'Courier information is unavailable here: the courier service does not answer on this address.',
  timeout: 'Courier information is unavailable: the courier service did not answer in time.',
};

/** The request in flight, if any. */
let active = null;

/** Asks who delivers order `id` and shows the answer, replacing whatever the card showed. */
export async function loadCourier(id) {
  forgetCourier();
  const request = new TimedRequest(() => {});
  active = request;
  showNote('loading');
  const outcome = await request.outcome((signal) => requestAssignment(id, signal), 'aborted');
  if (active !== request) {
    return; // another order (or none) is shown now
  }
  active = null;
  showOutcome(outcome);
}

/**
 * Asks again who delivers order `id` (its courier changed): the card keeps what it shows
 * until the answer replaces it, so nothing flickers.
 */
export async function refreshCourier(id) {
  active?.cancel();
  const request = new TimedRequest(() => {});
  active = request;
  const outcome = await request.outcome((signal) => requestAssignment(id, signal), 'aborted');
  if (active !== request || outcome.kind === 'aborted') {
    return;
  }
  active = null;
  showOutcome(outcome);
}

/** Abandons the request in flight and empties the card (the order is hidden). */
export function forgetCourier() {
  active?.cancel();
  active = null;
  showNote('idle');
}

function showOutcome(outcome) {
  if (outcome.kind === 'failed') {
    showNote('failed');
    note.textContent = `Courier information could not be loaded (HTTP ${outcome.status}).${
      outcome.detail ? ` ${describeValue(outcome.detail)}` : ''}`;
    return;
  }
  if (outcome.kind !== 'found') {
    showNote(outcome.kind);
    return;
  }
  const { assignment } = outcome;
  const courier = isPlainObject(assignment.courier) ? assignment.courier : null;
  if (courier === null || !['assigned', 'delivered'].includes(assignment.state)) {
    showNote(assignment.state);
    return;
  }
  const rows = [
    ['name', 'Name', courier.name],
    ['transport', 'Transport', describeTransport(courier.transport)],
    ['status', 'Courier status', createCourierStatusBadge(courier.status)],
    ['assigned_at', 'Assigned', time(assignment.assigned_at)],
  ];
  if (assignment.state === 'delivered') {
    rows.push(['delivered_at', 'Delivered', time(assignment.delivered_at)]);
  }
  fields.replaceChildren(...rows.map(([name, label, value]) => {
    const row = createElement('div', { className: 'field' });
    row.dataset.field = name;
    row.append(createElement('dt', { text: label }), createValueCell('dd', value));
    return row;
  }));
  fields.hidden = false;
  note.dataset.state = assignment.state;
  note.textContent = assignment.state === 'delivered'
    ? `Delivered by ${describeValue(courier.name)}.`
    : `${describeValue(courier.name)} delivers this order.`;
}

function showNote(state) {
  fields.hidden = true;
  fields.replaceChildren();
  note.dataset.state = state;
  note.textContent = NOTES[state] ?? '';
}

function time(value) {
  return createTimeElement(parseIsoDate(value), value);
}
