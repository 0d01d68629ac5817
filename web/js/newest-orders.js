// The newest orders, or those a search finds: a page at a time, each order a link to its
// page, and "Load more" until there is nothing more.

import { GIVE_UP_AFTER_MS, TimedRequest, requestOrderPage } from './api.js';
import { sameFilters } from './address.js';
import { createElement, createRowHeader, createValueCell, labelled } from './elements.js';
import { createTimeElement, formatMoney, parseIsoDate } from './format.js';
import { describeValue } from './json-values.js';
import { createOrderLink, handleOrderLinkClick } from './order-links.js';
import { createStatusBadge } from './status-badge.js';

const PAGE_SIZE = 20;
const table = document.getElementById('recent-table');
const body = document.getElementById('recent-body');
const status = document.getElementById('recent-status');
const refreshButton = document.getElementById('recent-refresh');
const loadMoreButton = document.getElementById('load-more');

/**
 * The API's filters of the orders listed (none: every order), where the next page starts,
 * how many rows are shown, and the request in flight.
 */
const list = { filters: {}, nextCursor: null, count: 0, request: null };

/** `openOrder(id)` is called when a link is followed with a plain click. */
export function wireNewestOrders(openOrder) {
  body.addEventListener('click', (event) => handleOrderLinkClick(event, openOrder));
  refreshButton.addEventListener('click', () => loadNewestOrders({ reset: true, filters: list.filters }));
  loadMoreButton.addEventListener('click', () => loadNewestOrders({ reset: false }));
}

/** Loads the first page of the orders `filters` find (reset), or the next page. */
export async function loadNewestOrders({ reset, filters = list.filters }) {
  list.request?.cancel();
  if (reset && !sameFilters(filters, list.filters)) {
    // Another search: the next page of the last one is no longer there to load.
    list.filters = filters;
    list.nextCursor = null;
    loadMoreButton.hidden = true;
  }
  const request = new TimedRequest(() => {
    setStatus('loading', 'Loading orders… still waiting, the service is slow.');
  });
  list.request = request;
  const cursor = reset ? null : list.nextCursor;

  // Buttons stay enabled (disabling one drops its keyboard focus); a second click
  // simply replaces the request in flight.
  table.setAttribute('aria-busy', 'true');
  setStatus('loading', reset ? `Loading ${searching() ? 'the orders found' : 'the newest orders'}…` : 'Loading more orders…');

  const outcome = await request.outcome((signal) =>
    requestOrderPage({ limit: PAGE_SIZE, cursor, filters: list.filters }, signal),
  );
  if (list.request !== request) {
    return; // a newer request took over
  }
  list.request = null;
  table.setAttribute('aria-busy', 'false');

  if (outcome.kind === 'page') {
    showPage(outcome, reset);
  } else {
    showFailure(describeFailure(outcome), reset);
  }
}

function describeFailure(outcome) {
  switch (outcome.kind) {
    case 'refused':
      return `The service answered HTTP ${outcome.status}.${outcome.detail ? ` ${describeValue(outcome.detail)}` : ''}`;
    case 'timeout':
      return `The order service did not answer within ${GIVE_UP_AFTER_MS / 1000} seconds.`;
    default:
      return 'The order service is unreachable.';
  }
}

function showFailure(failure, reset) {
  setStatus('error', `Could not load ${reset ? 'the newest' : 'more'} orders. ${failure} Use “${
    reset || list.count === 0 ? 'Refresh' : 'Load more'}” to try again.`);
  if (reset) {
    list.count = 0;
    list.nextCursor = null;
    body.replaceChildren();
    table.hidden = true;
  }
  loadMoreButton.hidden = list.nextCursor === null;
}

function showPage(page, reset) {
  const rows = page.orders.map(createOrderRow);
  if (reset) {
    body.replaceChildren(...rows);
    list.count = rows.length;
  } else {
    body.append(...rows);
    list.count += rows.length;
    rows[0]?.querySelector('a')?.focus(); // keyboard users continue where the new rows start
  }
  list.nextCursor = page.nextCursor;
  table.hidden = list.count === 0;
  loadMoreButton.hidden = list.nextCursor === null;

  setStatus(list.count === 0 ? 'empty' : 'done', describeList());
}

function describeList() {
  const more = list.nextCursor !== null;
  if (!searching()) {
    if (list.count === 0) {
      return 'No orders yet.';
    }
    if (more) {
      return `Showing the newest ${list.count} orders. More are available.`;
    }
    return list.count === 1 ? 'Showing the only order.' : `Showing all ${list.count} orders.`;
  }
  if (list.count === 0) {
    return 'No orders match this search.';
  }
  if (more) {
    return `Showing the newest ${list.count} orders found. More are available.`;
  }
  return list.count === 1 ? 'Showing the only order found.' : `Showing all ${list.count} orders found.`;
}

function searching() {
  return Object.keys(list.filters).length > 0;
}

function createOrderRow(summary) {
  const id = describeValue(summary.order_uid);
  const idCell = createRowHeader({ className: 'mono' });
  idCell.append(createOrderLink(id) ?? id);
  const created = createTimeElement(parseIsoDate(summary.date_created), summary.date_created, 'short');
  return createElement('tr', {}, [
    labelled(idCell, 'Order id'),
    labelled(createValueCell('td', created), 'Created'),
    labelled(createValueCell('td', createStatusBadge(summary.status)), 'Status'),
    labelled(createValueCell('td', summary.customer_id), 'Customer'),
    labelled(createValueCell('td', summary.delivery_service), 'Delivery service'),
    labelled(createValueCell('td', summary.items, 'num'), 'Items'),
    labelled(createValueCell('td', formatMoney(summary.amount, summary.currency), 'num'), 'Amount'),
  ]);
}

function setStatus(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}
