// The newest orders, or those a search finds: a page at a time, each order a link to its
// page, and "Load more" until there is nothing more.

import { GIVE_UP_AFTER_MS, TimedRequest, requestOrderPage } from './api.js';
import { sameFilters } from './address.js';
import { createElement, createRowHeader, createValueCell, labelled } from './elements.js';
import { createTimeElement, formatMoney, parseIsoDate } from './format.js';
import { describeValue } from './json-values.js';
import { createOrderLink, handleOrderLinkClick } from './order-links.js';
import { LiveStream } from './live-stream.js';
import { showLiveState } from './live-indicator.js';
import { createStatusBadge, fillStatusBadge } from './status-badge.js';

const PAGE_SIZE = 20;
const table = document.getElementById('recent-table');
const body = document.getElementById('recent-body');
const status = document.getElementById('recent-status');
const refreshButton = document.getElementById('recent-refresh');
const loadMoreButton = document.getElementById('load-more');
const live = {
  indicator: document.getElementById('recent-live'),
  region: document.getElementById('recent-live-status'),
  refresh: null, // the list's own Refresh button is always there
};
const STREAM_URL = '/api/v1/events/newest-orders';
const LIVE_SENTENCES = {
  live: 'Live: new orders and status changes appear in the list as they happen.',
  connecting: 'Reconnecting to live updates of the newest orders…',
  unavailable: 'Live updates of the newest orders are unavailable; use Refresh to see new orders.',
};

/**
 * The API's filters of the orders listed (none: every order), where the next page starts,
 * how many rows are shown, and the request in flight.
 */
const list = { filters: {}, nextCursor: null, count: 0, request: null };

/**
 * Rows shown, by order id: { row, version, date } (version 0: as listed, before any event).
 * `spilled`: rows a live arrival pushed off the bottom (the list keeps its length, so
 * nothing below it moves); "Load more" shows them again before the next page.
 * `early`: events that came while a first page was loading, applied once it is shown.
 */
const rows = new Map();
let spilled = [];
let early = null;

/** `openOrder(id)` is called when a link is followed with a plain click. */
export function wireNewestOrders(openOrder) {
  body.addEventListener('click', (event) => handleOrderLinkClick(event, openOrder));
  refreshButton.addEventListener('click', () => loadNewestOrders({ reset: true, filters: list.filters }));
  loadMoreButton.addEventListener('click', () => loadNewestOrders({ reset: false }));
  // Opened before the first page is asked for, so no order falls between the two.
  new LiveStream(
    STREAM_URL,
    {
      order: (summary) => receive(summary),
      erased: (erased) => receive({ ...erased, erased: true }),
      reload: () => loadNewestOrders({ reset: true, filters: list.filters }),
    },
    (state) => showLiveState(live, state, LIVE_SENTENCES[state]),
  );
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
  if (reset) {
    early = [];
  }

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
  early = null; // no page to apply them to: live rows wait for the next one
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
  if (reset) {
    rows.clear();
    spilled = [];
  }
  const shown = [...spilled.filter((row) => rows.has(row.dataset.orderUid)), ...page.orders
    .filter((summary) => !rows.has(summary.order_uid))
    .map((summary) => remember(createOrderRow(summary), summary, 0))];
  spilled = [];
  if (reset) {
    body.replaceChildren(...shown);
    list.count = shown.length;
  } else {
    body.append(...shown);
    list.count += shown.length;
    shown[0]?.querySelector('a')?.focus(); // keyboard users continue where the new rows start
  }
  const waiting = early ?? [];
  early = null;
  waiting.forEach(receive);
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

function remember(row, summary, version) {
  row.dataset.orderUid = summary.order_uid;
  rows.set(summary.order_uid, { row, version, date: parseIsoDate(summary.date_created) });
  return row;
}

/** A change from the live stream: a row updated in place, or a new one put in its place. */
function receive(change) {
  if (early !== null) {
    early.push(change); // the first page is on its way: after it
    return;
  }
  const shown = rows.get(change.order_uid);
  if (shown) {
    if (!(change.version > shown.version)) {
      return;
    }
    shown.version = change.version;
    const badge = shown.row.querySelector('.badge');
    if (change.erased) {
      badge.dataset.status = 'erased';
      badge.textContent = 'erased';
    } else if (change.date_created !== undefined) {
      const replacement = remember(createOrderRow(change), change, change.version);
      shown.row.replaceWith(replacement);
      highlight(replacement);
      return;
    } else {
      fillStatusBadge(badge, change.status);
    }
    highlight(shown.row);
    return;
  }
  if (change.erased || change.date_created === undefined || !belongs(change)) {
    return;
  }
  insert(remember(createOrderRow(change), change, change.version), parseIsoDate(change.date_created));
}

/** A new order belongs in the list if the search finds it and it is newer than the last row
 * (or every order is shown). */
function belongs(summary) {
  const { filters } = list;
  for (const name of ['track_number', 'customer_id', 'status']) {
    if (filters[name] !== undefined && filters[name] !== summary[name]) {
      return false;
    }
  }
  const created = parseIsoDate(summary.date_created);
  if (!created) {
    return false;
  }
  if (filters.created_from !== undefined && created < new Date(filters.created_from)) {
    return false;
  }
  if (filters.created_to !== undefined && created >= new Date(filters.created_to)) {
    return false;
  }
  const last = body.lastElementChild;
  const lastDate = last ? rows.get(last.dataset.orderUid)?.date : null;
  return list.nextCursor === null || !lastDate || created >= lastDate;
}

function insert(row, created) {
  const before = [...body.children].find((other) => {
    const date = rows.get(other.dataset.orderUid)?.date;
    return date && date < created;
  });
  body.insertBefore(row, before ?? null);
  if (list.nextCursor !== null && body.children.length > list.count) {
    // The list keeps its length; the row pushed off comes back with "Load more".
    const last = body.lastElementChild;
    spilled.unshift(last);
    last.remove();
  } else {
    list.count = body.children.length;
    table.hidden = false;
  }
  highlight(row);
}

function highlight(row) {
  row.classList.remove('arrived');
  void row.offsetWidth; // restart the animation
  row.classList.add('arrived');
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
