// Order lookup page: type or paste an order id and see the order; browse the newest orders.
//
// Security note: every value that comes from the user or the API is put into the page
// with textContent / createTextNode / element properties only. Never use innerHTML,
// insertAdjacentHTML, document.write or inline styles here: the page runs under the
// query service's Content-Security-Policy (script-src 'self'; style-src 'self').
'use strict';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const ID_RULE = 'an order id is 1 to 64 characters: letters, digits, “_” or “-”.';
const ORDERS_PATH = 'api/v1/orders'; // resolved against the page, i.e. /api/v1/orders
const RECENT_PAGE_SIZE = 20;
const SLOW_AFTER_MS = 3000;
const GIVE_UP_AFTER_MS = 15000;
const BASE_TITLE = document.title;
const EMPTY_VALUE = '—';
const KNOWN_STATUSES = new Set(['created', 'cancelled', 'completed']);

/** Page elements, looked up once in init(). */
const ui = {};

/** The lookup in flight, if any: { id, controller, timedOut, timers, focusResult }. */
let activeLookup = null;

/** The id shown (or being looked up) right now, so a same-id popstate changes nothing. */
let currentId = null;

/** The order document currently shown, if any. */
let shownOrder = null;

/** The newest-orders list: where the next page starts and the request in flight. */
const recent = { nextCursor: null, controller: null, count: 0 };

document.addEventListener('DOMContentLoaded', init);

function init() {
  for (const [name, id] of Object.entries({
    form: 'lookup-form',
    idInput: 'order-id',
    message: 'message',
    order: 'order',
    orderHeading: 'order-heading',
    orderHeadingId: 'order-heading-id',
    statusBadge: 'order-status-badge',
    summaryFields: 'summary-fields',
    deliveryFields: 'delivery-fields',
    paymentFields: 'payment-fields',
    itemsCaption: 'items-caption',
    itemsBody: 'items-body',
    itemsFoot: 'items-foot',
    rawToggle: 'raw-toggle',
    rawJson: 'raw-json',
    copyButton: 'copy-json',
    copyStatus: 'copy-status',
    recentTable: 'recent-table',
    recentBody: 'recent-body',
    recentStatus: 'recent-status',
    recentRefresh: 'recent-refresh',
    loadMore: 'load-more',
  })) {
    ui[name] = document.getElementById(id);
  }

  ui.form.addEventListener('submit', handleSubmit);
  ui.idInput.addEventListener('input', clearInvalidMark);
  ui.rawToggle.addEventListener('click', toggleRawJson);
  ui.copyButton.addEventListener('click', copyRawJson);
  ui.recentBody.addEventListener('click', handleOrderLinkClick);
  ui.recentRefresh.addEventListener('click', () => loadRecentOrders({ reset: true }));
  ui.loadMore.addEventListener('click', () => loadRecentOrders({ reset: false }));
  window.addEventListener('popstate', handlePopState);

  showOrderFromUrl();
  loadRecentOrders({ reset: true });
}

// ---------------------------------------------------------------------------
// Navigation: form, links, URL and history
// ---------------------------------------------------------------------------

function handleSubmit(event) {
  event.preventDefault();
  const id = extractId(ui.idInput.value);
  ui.idInput.value = id;
  showOrder(id, { updateUrl: true, focusResult: false });
}

/** A typed or pasted id, trimmed; a pasted link to an order page gives its `id`. */
function extractId(text) {
  const value = text.trim();
  if (/^https?:\/\//i.test(value)) {
    try {
      const linked = new URL(value).searchParams.get('id');
      if (linked !== null) {
        return linked.trim();
      }
    } catch {
      // not a URL after all: validate it as an id
    }
  }
  return value;
}

/** Newest-orders links open the order in place; modified clicks keep the browser's behaviour. */
function handleOrderLinkClick(event) {
  const link = event.target.closest('a[data-order-id]');
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
    return;
  }
  event.preventDefault();
  const id = link.dataset.orderId;
  ui.idInput.value = id;
  showOrder(id, { updateUrl: true, focusResult: true });
}

function handlePopState() {
  const id = readIdFromUrl();
  if (id !== null && id.trim() === currentId) {
    return; // e.g. the skip link changed only the fragment
  }
  showOrderFromUrl();
}

/** Renders whatever `?id=` the current URL holds (page load and back/forward). */
function showOrderFromUrl() {
  const rawId = readIdFromUrl();
  if (rawId === null) {
    resetToIdle();
    return;
  }
  const id = rawId.trim();
  if (id !== rawId) {
    replaceIdInUrl(id);
  }
  ui.idInput.value = id;
  showOrder(id, { updateUrl: false, focusResult: false });
}

function readIdFromUrl() {
  return new URLSearchParams(window.location.search).get('id');
}

function pushIdToUrl(id) {
  if (readIdFromUrl() === id) {
    return; // looking up the same id again must not add a history entry
  }
  window.history.pushState({ id }, '', orderPageUrl(id));
}

function replaceIdInUrl(id) {
  window.history.replaceState({ id }, '', orderPageUrl(id));
}

/** This page's address showing order `id`: the link people share. */
function orderPageUrl(id) {
  const url = new URL(window.location.href);
  url.search = '';
  url.hash = '';
  url.searchParams.set('id', id);
  return url;
}

function resetToIdle() {
  cancelActiveLookup();
  currentId = null;
  ui.idInput.value = '';
  clearInvalidMark();
  hideOrder();
  setMessage('idle', '');
}

function showOrder(id, { updateUrl, focusResult }) {
  cancelActiveLookup();
  currentId = id;

  const problem = describeIdProblem(id);
  if (problem) {
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

/** Returns why `id` cannot be an order id, or null if it looks fine. */
function describeIdProblem(id) {
  if (id === '') {
    return 'Please enter an order id.';
  }
  if (!ID_PATTERN.test(id)) {
    return `Malformed id: ${ID_RULE}`;
  }
  return null;
}

function showBadId(text) {
  setMessage('bad-id', text);
  ui.idInput.setAttribute('aria-invalid', 'true');
  ui.idInput.setAttribute('aria-describedby', 'message order-id-hint');
  ui.idInput.focus();
}

function clearInvalidMark() {
  ui.idInput.removeAttribute('aria-invalid');
  ui.idInput.setAttribute('aria-describedby', 'order-id-hint');
}

// ---------------------------------------------------------------------------
// Looking up one order
// ---------------------------------------------------------------------------

async function lookUpOrder(id, focusResult) {
  const lookup = {
    id,
    controller: new AbortController(),
    timedOut: false,
    timers: [],
  };
  activeLookup = lookup;

  hideOrder();
  setMessage('loading', `Loading order ${id}…`);
  lookup.timers.push(setTimeout(() => {
    setMessage('slow', `Loading order ${id}… still waiting, the service is slow.`);
  }, SLOW_AFTER_MS));
  lookup.timers.push(setTimeout(() => {
    lookup.timedOut = true;
    lookup.controller.abort();
  }, GIVE_UP_AFTER_MS));

  // The document has no status: it comes from its own endpoint, asked at the same time.
  const statusRequest = requestStatus(id, lookup.controller.signal);
  let outcome;
  try {
    outcome = await requestOrder(id, lookup.controller.signal);
    if (outcome.kind === 'found') {
      outcome.status = await statusRequest;
    }
  } catch {
    outcome = lookup.timedOut ? { kind: 'timeout' } : { kind: 'unreachable' };
  } finally {
    lookup.timers.forEach(clearTimeout);
  }

  if (activeLookup !== lookup) {
    return; // a newer lookup (or a reset) took over; its answer wins
  }
  activeLookup = null;
  showOutcome(id, outcome, focusResult);
}

function cancelActiveLookup() {
  if (!activeLookup) {
    return;
  }
  activeLookup.timers.forEach(clearTimeout);
  activeLookup.controller.abort();
  activeLookup = null;
}

function apiUrl(path) {
  return new URL(path, document.baseURI);
}

/**
 * Fetches one order and classifies the answer.
 * Resolves to { kind: 'found' | 'not-found' | 'bad-id' | 'unavailable' | 'unexpected', ... };
 * rejects on network errors and aborts.
 */
async function requestOrder(id, signal) {
  const response = await fetchJson(apiUrl(`${ORDERS_PATH}/${encodeURIComponent(id)}`), signal);
  const body = await readJson(response);
  if (response.status === 200) {
    return isPlainObject(body) ? { kind: 'found', order: body } : { kind: 'unexpected', status: 200 };
  }
  if (response.status === 404) {
    return { kind: 'not-found' };
  }
  if (response.status === 400) {
    return { kind: 'bad-id', detail: isPlainObject(body) ? body.detail : undefined };
  }
  if (response.status >= 500) {
    return { kind: 'unavailable', detail: isPlainObject(body) ? body.detail : undefined };
  }
  return { kind: 'unexpected', status: response.status };
}

/** The order's status ('created', 'cancelled', 'completed'), or 'unknown' if that fails. */
async function requestStatus(id, signal) {
  try {
    const url = apiUrl(`${ORDERS_PATH}/${encodeURIComponent(id)}/status`);
    const response = await fetchJson(url, signal);
    const body = await readJson(response);
    if (response.ok && isPlainObject(body) && KNOWN_STATUSES.has(body.status)) {
      return body.status;
    }
  } catch {
    // shown as unknown; the order itself decides what the page says
  }
  return 'unknown';
}

function fetchJson(url, signal) {
  return fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store', signal });
}

/** Parses a JSON body; answers undefined when the body is not JSON. Aborts still reject. */
async function readJson(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function showOutcome(id, outcome, focusResult) {
  switch (outcome.kind) {
    case 'found':
      renderOrder(outcome.order, outcome.status);
      setMessage('found', `Showing order ${id}.`);
      if (focusResult) {
        ui.orderHeading.focus();
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
    ui.idInput.focus();
  }
}

// ---------------------------------------------------------------------------
// Status message
// ---------------------------------------------------------------------------

function setMessage(state, text) {
  ui.message.dataset.state = state;
  ui.message.textContent = text;
  ui.message.setAttribute('aria-busy', String(state === 'loading' || state === 'slow'));
}

// ---------------------------------------------------------------------------
// Rendering the order
// ---------------------------------------------------------------------------

function hideOrder() {
  ui.order.hidden = true;
  shownOrder = null;
  document.title = BASE_TITLE;
}

function renderOrder(order, status) {
  const delivery = isPlainObject(order.delivery) ? order.delivery : {};
  const payment = isPlainObject(order.payment) ? order.payment : {};
  const items = Array.isArray(order.items) ? order.items : [];

  ui.orderHeadingId.textContent = describeValue(order.order_uid);
  fillStatusBadge(ui.statusBadge, status);
  renderSummary(order, status);
  renderDelivery(delivery);
  renderPayment(payment);
  renderItems(items, payment.currency, order.order_uid);
  ui.rawJson.textContent = JSON.stringify(order, null, 2);
  ui.copyStatus.textContent = '';

  shownOrder = order;
  ui.order.hidden = false;
  document.title = `Order ${describeValue(order.order_uid)} · ${BASE_TITLE}`;
}

function renderSummary(order, status) {
  fillFieldList(ui.summaryFields, [
    ['order_uid', 'Order id', order.order_uid, 'mono'],
    ['track_number', 'Track number', order.track_number, 'mono'],
    ['date_created', 'Created', createTimeElement(parseIsoDate(order.date_created), order.date_created)],
    ['status', 'Status', fillStatusBadge(createElement('span'), status)],
    ['customer_id', 'Customer', order.customer_id],
    ['delivery_service', 'Delivery service', order.delivery_service],
    ['entry', 'Entry', order.entry],
    ['locale', 'Locale', order.locale],
    ['internal_signature', 'Internal signature', order.internal_signature],
    ['shardkey', 'Shard key', order.shardkey],
    ['sm_id', 'SM id', order.sm_id],
    ['oof_shard', 'OOF shard', order.oof_shard],
  ]);
}

function renderDelivery(delivery) {
  fillFieldList(ui.deliveryFields, [
    ['name', 'Name', delivery.name],
    ['phone', 'Phone', delivery.phone],
    ['email', 'Email', delivery.email],
    ['address', 'Address', delivery.address],
    ['city', 'City', delivery.city],
    ['region', 'Region', delivery.region],
    ['zip', 'Zip', delivery.zip],
  ]);
}

function renderPayment(payment) {
  const money = (amount) => formatMoney(amount, payment.currency);
  fillFieldList(ui.paymentFields, [
    ['amount', 'Amount', money(payment.amount), 'strong'],
    ['goods_total', 'Goods total', money(payment.goods_total)],
    ['delivery_cost', 'Delivery cost', money(payment.delivery_cost)],
    ['custom_fee', 'Custom fee', money(payment.custom_fee)],
    ['currency', 'Currency', payment.currency],
    ['payment_dt', 'Paid at', createTimeElement(parseUnixSeconds(payment.payment_dt), payment.payment_dt)],
    ['provider', 'Provider', payment.provider],
    ['bank', 'Bank', payment.bank],
    ['transaction', 'Transaction', payment.transaction, 'mono'],
    ['request_id', 'Request id', payment.request_id, 'mono'],
  ]);
}

/**
 * Replaces the content of a <dl> with label/value pairs.
 * `fields` holds [fieldName, label, value, valueClass?]; value is a plain value or a Node.
 */
function fillFieldList(list, fields) {
  const rows = fields.map(([fieldName, label, value, valueClass]) => {
    const row = createElement('div', { className: 'field' });
    row.dataset.field = fieldName;
    row.append(
      createElement('dt', { text: label }),
      createValueCell('dd', value, valueClass),
    );
    return row;
  });
  list.replaceChildren(...rows);
}

function fillStatusBadge(element, status) {
  const known = KNOWN_STATUSES.has(status) ? status : 'unknown';
  element.className = 'badge';
  element.dataset.status = known;
  element.textContent = known;
  if (known === 'unknown') {
    element.title = 'The status could not be loaded.';
  } else {
    element.removeAttribute('title');
  }
  return element;
}

function renderItems(items, currency, orderId) {
  const count = `${items.length} ${items.length === 1 ? 'item' : 'items'}`;
  ui.itemsCaption.textContent = `${count} in order ${describeValue(orderId)}`;

  const rows = items.map((item, index) => createItemRow(isPlainObject(item) ? item : {}, index, currency));
  if (rows.length === 0) {
    const cell = createElement('td', { className: 'empty', text: 'This order has no items.' });
    cell.colSpan = 12;
    rows.push(createElement('tr', {}, [cell]));
  }
  ui.itemsBody.replaceChildren(...rows);
  ui.itemsFoot.replaceChildren(createTotalsRow(items, currency));
}

function createItemRow(item, index, currency) {
  const positionCell = createElement('th', { className: 'num', text: String(index + 1) });
  positionCell.scope = 'row';
  return createElement('tr', {}, [
    positionCell,
    createValueCell('td', item.name, 'wrap'),
    createValueCell('td', item.brand, 'wrap'),
    createValueCell('td', item.size),
    createValueCell('td', formatMoney(item.price, currency), 'num'),
    createValueCell('td', formatPercent(item.sale), 'num'),
    createValueCell('td', formatMoney(item.total_price, currency), 'num'),
    createValueCell('td', item.chrt_id, 'num mono'),
    createValueCell('td', item.nm_id, 'num mono'),
    createValueCell('td', item.rid, 'mono'),
    createValueCell('td', item.track_number, 'mono'),
    createValueCell('td', item.status, 'num'),
  ]);
}

function sumOf(items, field) {
  return items
    .map((item) => (isPlainObject(item) ? item[field] : undefined))
    .filter((value) => typeof value === 'number' && Number.isFinite(value))
    .reduce((sum, value) => sum + value, 0);
}

function createTotalsRow(items, currency) {
  const label = createElement('th', { text: 'Total' });
  label.scope = 'row';
  label.colSpan = 4;
  const trailing = createElement('td');
  trailing.colSpan = 5;
  return createElement('tr', { className: 'totals' }, [
    label,
    createValueCell('td', formatMoney(sumOf(items, 'price'), currency), 'num'),
    createElement('td'),
    createValueCell('td', formatMoney(sumOf(items, 'total_price'), currency), 'num'),
    trailing,
  ]);
}

// ---------------------------------------------------------------------------
// Raw JSON
// ---------------------------------------------------------------------------

function toggleRawJson() {
  const toggle = ui.rawToggle;
  const willShow = toggle.getAttribute('aria-expanded') !== 'true';
  toggle.setAttribute('aria-expanded', String(willShow));
  toggle.textContent = willShow ? 'Hide raw JSON' : 'Show raw JSON';
  ui.rawJson.hidden = !willShow;
}

async function copyRawJson() {
  if (!shownOrder) {
    return;
  }
  const text = JSON.stringify(shownOrder, null, 2);
  try {
    if (!navigator.clipboard || !window.isSecureContext) {
      throw new Error('Clipboard API not available');
    }
    await navigator.clipboard.writeText(text);
    ui.copyStatus.textContent = 'Copied to the clipboard.';
  } catch {
    selectRawJson();
    ui.copyStatus.textContent =
      'Could not copy automatically. The JSON is shown and selected: press Ctrl+C (⌘C on a Mac) to copy it.';
  }
}

/** Fallback for copying: reveal the JSON and select it so the user can copy it by hand. */
function selectRawJson() {
  if (ui.rawJson.hidden) {
    toggleRawJson();
  }
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.selectAllChildren(ui.rawJson);
  ui.rawJson.focus();
}

// ---------------------------------------------------------------------------
// The newest orders
// ---------------------------------------------------------------------------

/** Loads the first page (reset) or the next one, newest first. */
async function loadRecentOrders({ reset }) {
  if (recent.controller) {
    recent.controller.abort();
  }
  const controller = new AbortController();
  recent.controller = controller;
  const cursor = reset ? null : recent.nextCursor;

  // Buttons stay enabled (disabling one drops its keyboard focus); a second click
  // simply replaces the request in flight.
  ui.recentTable.setAttribute('aria-busy', 'true');
  setRecentStatus('loading', reset ? 'Loading the newest orders…' : 'Loading more orders…');
  const slowTimer = setTimeout(() => {
    setRecentStatus('loading', 'Loading orders… still waiting, the service is slow.');
  }, SLOW_AFTER_MS);
  const giveUpTimer = setTimeout(() => controller.abort(), GIVE_UP_AFTER_MS);

  let page;
  try {
    page = await requestRecentPage(cursor, controller.signal);
  } catch {
    page = { error: controller.signal.aborted
      ? `The order service did not answer within ${GIVE_UP_AFTER_MS / 1000} seconds.`
      : 'The order service is unreachable.' };
  } finally {
    clearTimeout(slowTimer);
    clearTimeout(giveUpTimer);
  }
  if (recent.controller !== controller) {
    return; // a newer request took over
  }
  recent.controller = null;
  ui.recentTable.setAttribute('aria-busy', 'false');

  if (page.error) {
    setRecentStatus('error', `Could not load ${reset ? 'the newest' : 'more'} orders. ${page.error} Use “${
      reset || recent.count === 0 ? 'Refresh' : 'Load more'}” to try again.`);
    if (reset) {
      recent.count = 0;
      recent.nextCursor = null;
      ui.recentBody.replaceChildren();
      ui.recentTable.hidden = true;
    }
    ui.loadMore.hidden = recent.nextCursor === null;
    return;
  }

  const rows = page.orders.map(createRecentRow);
  if (reset) {
    ui.recentBody.replaceChildren(...rows);
    recent.count = rows.length;
  } else {
    ui.recentBody.append(...rows);
    recent.count += rows.length;
    if (rows.length > 0) {
      rows[0].querySelector('a')?.focus(); // keyboard users continue where the new rows start
    }
  }
  recent.nextCursor = page.nextCursor;
  ui.recentTable.hidden = recent.count === 0;
  ui.loadMore.hidden = recent.nextCursor === null;

  if (recent.count === 0) {
    setRecentStatus('empty', 'No orders yet.');
  } else if (recent.nextCursor !== null) {
    setRecentStatus('done', `Showing the newest ${recent.count} orders. More are available.`);
  } else {
    setRecentStatus('done', recent.count === 1 ? 'Showing the only order.' : `Showing all ${recent.count} orders.`);
  }
}

/** One page of summaries: { orders, nextCursor } or { error }. Rejects on network errors. */
async function requestRecentPage(cursor, signal) {
  const url = apiUrl(ORDERS_PATH);
  url.searchParams.set('limit', String(RECENT_PAGE_SIZE));
  if (cursor !== null) {
    url.searchParams.set('cursor', cursor);
  }
  const response = await fetchJson(url, signal);
  const body = await readJson(response);
  if (response.ok && isPlainObject(body) && Array.isArray(body.orders)) {
    const nextCursor = typeof body.next_cursor === 'string' && body.next_cursor !== '' ? body.next_cursor : null;
    return { orders: body.orders.filter(isPlainObject), nextCursor };
  }
  const detail = isPlainObject(body) && body.detail ? ` ${describeValue(body.detail)}` : '';
  return { error: `The service answered HTTP ${response.status}.${detail}` };
}

function createRecentRow(summary) {
  const id = describeValue(summary.order_uid);
  const idCell = createElement('th', { className: 'mono' });
  idCell.scope = 'row';
  if (ID_PATTERN.test(id)) {
    const link = createElement('a', { text: id });
    link.href = orderPageUrl(id).href;
    link.dataset.orderId = id;
    idCell.append(link);
  } else {
    idCell.textContent = id;
  }
  const created = createTimeElement(parseIsoDate(summary.date_created), summary.date_created, 'short');
  return createElement('tr', {}, [
    labelled(idCell, 'Order id'),
    labelled(createValueCell('td', created), 'Created'),
    labelled(createValueCell('td', fillStatusBadge(createElement('span'), summary.status)), 'Status'),
    labelled(createValueCell('td', summary.customer_id), 'Customer'),
    labelled(createValueCell('td', summary.delivery_service), 'Delivery service'),
    labelled(createValueCell('td', summary.items, 'num'), 'Items'),
    labelled(createValueCell('td', formatMoney(summary.amount, summary.currency), 'num'), 'Amount'),
  ]);
}

/** The column name, shown by the stylesheet when a narrow screen stacks the cells. */
function labelled(cell, label) {
  cell.dataset.label = label;
  return cell;
}

function setRecentStatus(state, text) {
  ui.recentStatus.dataset.state = state;
  ui.recentStatus.textContent = text;
}

// ---------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------

/** Formats whole currency units, e.g. 1817 USD → "$1,817.00"; unknown codes → "1,817 XYZ". */
function formatMoney(amount, currency) {
  if (typeof amount !== 'number' || !Number.isFinite(amount)) {
    return amount;
  }
  if (isKnownCurrency(currency)) {
    try {
      return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(amount);
    } catch {
      // fall through to the plain form
    }
  }
  const plain = new Intl.NumberFormat().format(amount);
  return currency ? `${plain} ${describeValue(currency)}` : plain;
}

function isKnownCurrency(code) {
  if (typeof code !== 'string' || !/^[A-Za-z]{3}$/.test(code)) {
    return false;
  }
  if (typeof Intl.supportedValuesOf === 'function') {
    return Intl.supportedValuesOf('currency').includes(code.toUpperCase());
  }
  return true; // older browsers: let Intl.NumberFormat decide
}

function formatPercent(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return value;
  }
  return new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 2 }).format(value / 100);
}

function parseIsoDate(value) {
  if (typeof value !== 'string' || value === '') {
    return null;
  }
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

function parseUnixSeconds(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return null;
  }
  const date = new Date(value * 1000);
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * A <time> element showing `date` in the reader's locale and time zone, with the raw
 * value in its title. Falls back to the raw value when it is not a usable date.
 */
function createTimeElement(date, rawValue, timeStyle = 'medium') {
  if (!date) {
    return rawValue;
  }
  const text = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle }).format(date);
  const clock = new Intl.DateTimeFormat(undefined, { timeStyle }).format(date);
  // A narrow column breaks the line between the date and the time, never inside either.
  const split = text.lastIndexOf(clock);
  let children = [text];
  if (split > 0) {
    const day = text.slice(0, split).trimEnd();
    children = [
      createElement('span', { className: 'nowrap', text: day }),
      text.slice(day.length, split),
      createElement('span', { className: 'nowrap', text: clock }),
      text.slice(split + clock.length),
    ];
  }
  const time = createElement('time', {}, children.filter((child) => child !== ''));
  time.dateTime = date.toISOString();
  time.title = String(rawValue);
  return time;
}

// ---------------------------------------------------------------------------
// Small DOM helpers
// ---------------------------------------------------------------------------

function createElement(tagName, { className, text } = {}, children = []) {
  const element = document.createElement(tagName);
  if (className) {
    element.className = className;
  }
  if (text !== undefined) {
    element.textContent = text;
  }
  element.append(...children);
  return element;
}

/** A cell (<dd>, <td>) holding a value as text, or a prepared Node; empty values get a muted dash. */
function createValueCell(tagName, value, className) {
  const cell = createElement(tagName, { className });
  if (value instanceof Node) {
    cell.append(value);
  } else if (value === undefined || value === null || value === '') {
    cell.classList.add('empty');
    const mark = createElement('span', { text: EMPTY_VALUE });
    mark.setAttribute('aria-hidden', 'true');
    cell.append(mark, createElement('span', { className: 'visually-hidden', text: 'empty' }));
  } else {
    cell.append(document.createTextNode(describeValue(value)));
  }
  return cell;
}

/** Any JSON value as display text. */
function describeValue(value) {
  if (typeof value === 'string') {
    return value;
  }
  if (value === undefined) {
    return '';
  }
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
