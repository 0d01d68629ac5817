// The couriers view: every courier (a page at a time, "Load more couriers" until there is
// nothing more) with their transport, status, completed deliveries and the order each
// delivers now, under the statistics of them all. Read-only; from the courier API on the
// same origin, so a page opened straight on a query replica says it is unavailable here.

import { GIVE_UP_AFTER_MS, TimedRequest, requestCourierPage } from './api.js';
import { createCourierStatusBadge, describeTransport } from './courier-format.js';
import { createElement, createRowHeader, createValueCell, labelled } from './elements.js';
import { describeValue } from './json-values.js';
import { createOrderLink, handleOrderLinkClick } from './order-links.js';

const PAGE_SIZE = 20;
const table = document.getElementById('couriers-table');
const body = document.getElementById('couriers-body');
const summary = document.getElementById('couriers-summary');
const status = document.getElementById('couriers-status');
const refreshButton = document.getElementById('couriers-refresh');
const moreButton = document.getElementById('couriers-more');

/** Where the next page starts, how many rows are shown, and the request in flight. */
const list = { nextAfter: null, count: 0, request: null };

/** `openOrder(id)` is called when a courier's current order is followed with a plain click. */
export function wireCouriers(openOrder) {
  body.addEventListener('click', (event) => handleOrderLinkClick(event, openOrder));
  refreshButton.addEventListener('click', () => loadCouriers({ reset: true }));
  moreButton.addEventListener('click', () => loadCouriers({ reset: false }));
}

/** Loads the first page of couriers (reset) or the next one, with fresh statistics. */
export async function loadCouriers({ reset }) {
  list.request?.cancel();
  const request = new TimedRequest(() => {
    setStatus('loading', 'Loading couriers… still waiting, the courier service is slow.');
  });
  list.request = request;
  table.setAttribute('aria-busy', 'true');
  setStatus('loading', reset ? 'Loading couriers…' : 'Loading more couriers…');

  const after = reset ? null : list.nextAfter;
  const outcome = await request.outcome((signal) => requestCourierPage({ limit: PAGE_SIZE, after }, signal));
  if (list.request !== request) {
    return; // a newer request took over
  }
  list.request = null;
  table.setAttribute('aria-busy', 'false');

  if (outcome.kind === 'page') {
    showPage(outcome, reset);
  } else {
    showFailure(outcome);
  }
}

function showPage(page, reset) {
  const rows = page.couriers.map(createCourierRow);
  if (reset) {
    body.replaceChildren(...rows);
    list.count = rows.length;
  } else {
    body.append(...rows);
    list.count += rows.length;
    rows[0]?.querySelector('th')?.focus();
  }
  list.nextAfter = page.nextAfter;
  table.hidden = list.count === 0;
  moreButton.hidden = list.nextAfter === null;
  if (page.stats !== null) {
    summary.textContent = describeStats(page.stats);
  }
  if (list.count === 0) {
    setStatus('empty', 'No couriers yet.');
  } else {
    const more = list.nextAfter !== null ? ' More are available.' : '';
    setStatus('done', `Showing ${list.count === 1 ? 'the only courier' : `${list.count} couriers`}.${more}`);
  }
}

function showFailure(outcome) {
  let reason;
  if (outcome.kind === 'unavailable') {
    reason = outcome.status === 404
      ? 'Courier information is unavailable here: the courier service does not answer on this address.'
      : `The courier service answered HTTP ${outcome.status}. Use “Refresh” to try again.`;
  } else if (outcome.kind === 'timeout') {
    reason = `The courier service did not answer within ${GIVE_UP_AFTER_MS / 1000} seconds. Use “Refresh” to try again.`;
  } else {
    reason = 'Courier information is unavailable: the courier service is unreachable. Use “Refresh” to try again.';
  }
  setStatus('error', reason);
  summary.textContent = '';
  list.count = 0;
  list.nextAfter = null;
  body.replaceChildren();
  table.hidden = true;
  moreButton.hidden = true;
}

/** "3 available, 1 busy, 1 paused · 12 completed deliveries · 2 orders waiting". */
function describeStats(stats) {
  const count = (value) => (Number.isSafeInteger(value) ? value : 0);
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  return [
    `${count(stats.available)} available, ${count(stats.busy)} busy, ${count(stats.paused)} paused`,
    plural(count(stats.completed_deliveries), 'completed delivery', 'completed deliveries'),
    plural(count(stats.waiting_orders), 'order waiting for a courier', 'orders waiting for a courier'),
  ].join(' · ');
}

function createCourierRow(courier) {
  const name = createRowHeader({ text: describeValue(courier.name) });
  name.tabIndex = -1; // "Load more couriers" moves the focus to the first new row
  return createElement('tr', {}, [
    labelled(name, 'Courier'),
    labelled(createValueCell('td', describeTransport(courier.transport)), 'Transport'),
    labelled(createValueCell('td', createCourierStatusBadge(courier.status)), 'Status'),
    labelled(createValueCell('td', courier.completed_deliveries, 'num'), 'Completed deliveries'),
    labelled(createValueCell('td', createOrderLink(courier.current_order) ?? courier.current_order, 'mono'), 'Delivering now'),
  ]);
}

function setStatus(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}
