// Order lookup page: type an order id, see the order.
//
// Security note: every value that comes from the user or the API is put into
// the page with textContent / createTextNode only. Never use innerHTML,
// insertAdjacentHTML or document.write with data here.
'use strict';

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const ID_RULE = 'an order id is 1 to 64 characters: letters, digits, “_” or “-”.';
const API_PATH = 'api/v1/orders/'; // resolved against the page, i.e. /api/v1/orders/
const SLOW_AFTER_MS = 3000;
const GIVE_UP_AFTER_MS = 15000;
const BASE_TITLE = document.title;
const EMPTY_VALUE = '—';

/** Page elements, looked up once in init(). */
const ui = {};

/** The lookup in flight, if any: { controller, timedOut, timers }. */
let activeLookup = null;

/** The order document currently shown, if any. */
let shownOrder = null;

document.addEventListener('DOMContentLoaded', init);

function init() {
  ui.form = document.getElementById('lookup-form');
  ui.idInput = document.getElementById('order-id');
  ui.message = document.getElementById('message');
  ui.order = document.getElementById('order');
  ui.orderHeadingId = document.getElementById('order-heading-id');
  ui.summaryFields = document.getElementById('summary-fields');
  ui.deliveryFields = document.getElementById('delivery-fields');
  ui.paymentFields = document.getElementById('payment-fields');
  ui.itemsCaption = document.getElementById('items-caption');
  ui.itemsBody = document.getElementById('items-body');
  ui.itemsFoot = document.getElementById('items-foot');
  ui.rawToggle = document.getElementById('raw-toggle');
  ui.rawJson = document.getElementById('raw-json');
  ui.copyButton = document.getElementById('copy-json');
  ui.copyStatus = document.getElementById('copy-status');

  ui.form.addEventListener('submit', handleSubmit);
  ui.idInput.addEventListener('input', clearInvalidMark);
  ui.rawToggle.addEventListener('click', toggleRawJson);
  ui.copyButton.addEventListener('click', copyRawJson);
  window.addEventListener('popstate', showOrderFromUrl);

  showOrderFromUrl();
}

// ---------------------------------------------------------------------------
// Navigation: form, URL and history
// ---------------------------------------------------------------------------

function handleSubmit(event) {
  event.preventDefault();
  const id = ui.idInput.value.trim();
  ui.idInput.value = id;
  showOrder(id, { updateUrl: true });
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
  showOrder(id, { updateUrl: false });
}

function readIdFromUrl() {
  return new URLSearchParams(window.location.search).get('id');
}

function pushIdToUrl(id) {
  if (readIdFromUrl() === id) {
    return; // looking up the same id again must not add a history entry
  }
  window.history.pushState({ id }, '', urlWithId(id));
}

function replaceIdInUrl(id) {
  window.history.replaceState({ id }, '', urlWithId(id));
}

function urlWithId(id) {
  const url = new URL(window.location.href);
  url.searchParams.set('id', id);
  return url;
}

function resetToIdle() {
  cancelActiveLookup();
  ui.idInput.value = '';
  clearInvalidMark();
  hideOrder();
  setMessage('idle', '');
}

function showOrder(id, { updateUrl }) {
  cancelActiveLookup();

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
  lookUpOrder(id);
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
  ui.idInput.focus();
}

function clearInvalidMark() {
  ui.idInput.removeAttribute('aria-invalid');
}

// ---------------------------------------------------------------------------
// Talking to the API
// ---------------------------------------------------------------------------

async function lookUpOrder(id) {
  const lookup = {
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

  let outcome;
  try {
    outcome = await requestOrder(id, lookup.controller.signal);
  } catch {
    outcome = lookup.timedOut ? { kind: 'timeout' } : { kind: 'unreachable' };
  } finally {
    lookup.timers.forEach(clearTimeout);
  }

  if (activeLookup !== lookup) {
    return; // a newer lookup (or a reset) took over; its answer wins
  }
  activeLookup = null;
  showOutcome(id, outcome);
}

function cancelActiveLookup() {
  if (!activeLookup) {
    return;
  }
  activeLookup.timers.forEach(clearTimeout);
  activeLookup.controller.abort();
  activeLookup = null;
}

/**
 * Fetches one order and classifies the answer.
 * Resolves to { kind: 'found' | 'not-found' | 'bad-id' | 'unexpected', ... };
 * rejects on network errors and aborts.
 */
async function requestOrder(id, signal) {
  const url = new URL(API_PATH + encodeURIComponent(id), document.baseURI);
  const response = await fetch(url, {
    headers: { Accept: 'application/json' },
    cache: 'no-store',
    signal,
  });

  if (response.status === 200) {
    const order = await readJson(response);
    return isPlainObject(order) ? { kind: 'found', order } : { kind: 'unexpected', status: 200 };
  }
  if (response.status === 404) {
    return { kind: 'not-found' };
  }
  if (response.status === 400) {
    const body = await readJson(response);
    return { kind: 'bad-id', detail: isPlainObject(body) ? body.detail : undefined };
  }
  if (response.status >= 500) {
    return { kind: 'unreachable' };
  }
  return { kind: 'unexpected', status: response.status };
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

function showOutcome(id, outcome) {
  switch (outcome.kind) {
    case 'found':
      renderOrder(outcome.order);
      setMessage('found', `Showing order ${id}.`);
      break;
    case 'not-found':
      setMessage('not-found', `No order with id ${id}.`);
      break;
    case 'bad-id':
      showBadId(outcome.detail === undefined || outcome.detail === ''
        ? `Malformed id: ${ID_RULE}`
        : `Malformed id: ${describeValue(outcome.detail)}`);
      break;
    case 'timeout':
      setMessage('unreachable',
        `The order service did not answer within ${GIVE_UP_AFTER_MS / 1000} seconds. Please try again.`);
      break;
    case 'unexpected':
      setMessage('unreachable',
        `The order service gave an unexpected answer (HTTP ${outcome.status}), try again.`);
      break;
    default:
      setMessage('unreachable', 'The order service is unreachable, try again.');
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

function renderOrder(order) {
  const delivery = isPlainObject(order.delivery) ? order.delivery : {};
  const payment = isPlainObject(order.payment) ? order.payment : {};
  const items = Array.isArray(order.items) ? order.items : [];
  const currency = payment.currency;

  ui.orderHeadingId.textContent = describeValue(order.order_uid);
  renderSummary(order);
  renderDelivery(delivery);
  renderPayment(payment);
  renderItems(items, currency, order.order_uid);
  ui.rawJson.textContent = JSON.stringify(order, null, 2);
  ui.copyStatus.textContent = '';

  shownOrder = order;
  ui.order.hidden = false;
  document.title = `Order ${describeValue(order.order_uid)} · ${BASE_TITLE}`;
}

function renderSummary(order) {
  fillFieldList(ui.summaryFields, [
    ['order_uid', 'Order id', order.order_uid],
    ['track_number', 'Track number', order.track_number],
    ['entry', 'Entry', order.entry],
    ['date_created', 'Created', createTimeElement(parseIsoDate(order.date_created), order.date_created)],
    ['customer_id', 'Customer id', order.customer_id],
    ['delivery_service', 'Delivery service', order.delivery_service],
    ['locale', 'Locale', order.locale],
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
    ['transaction', 'Transaction', payment.transaction],
    ['request_id', 'Request id', payment.request_id],
    ['provider', 'Provider', payment.provider],
    ['bank', 'Bank', payment.bank],
    ['currency', 'Currency', payment.currency],
    ['amount', 'Amount', money(payment.amount)],
    ['delivery_cost', 'Delivery cost', money(payment.delivery_cost)],
    ['goods_total', 'Goods total', money(payment.goods_total)],
    ['custom_fee', 'Custom fee', money(payment.custom_fee)],
    ['payment_dt', 'Paid at', createTimeElement(parseUnixSeconds(payment.payment_dt), payment.payment_dt)],
  ]);
}

/**
 * Replaces the content of a <dl> with label/value pairs.
 * `fields` holds [fieldName, label, value]; value is a plain value or a Node.
 */
function fillFieldList(list, fields) {
  const rows = fields.map(([fieldName, label, value]) => {
    const row = createElement('div', { className: 'field' });
    row.dataset.field = fieldName;
    row.append(
      createElement('dt', { text: label }),
      createValueCell('dd', value),
    );
    return row;
  });
  list.replaceChildren(...rows);
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
    createValueCell('td', item.name),
    createValueCell('td', item.brand),
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

function createTotalsRow(items, currency) {
  const total = items
    .map((item) => (isPlainObject(item) ? item.total_price : undefined))
    .filter((value) => typeof value === 'number' && Number.isFinite(value))
    .reduce((sum, value) => sum + value, 0);

  const label = createElement('th', { text: 'Total' });
  label.scope = 'row';
  label.colSpan = 6;
  const trailing = createElement('td');
  trailing.colSpan = 5;
  return createElement('tr', { className: 'totals' }, [
    label,
    createValueCell('td', formatMoney(total, currency), 'num'),
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
 * A <time> element showing `date` in the reader's locale, with the raw value
 * in its title. Falls back to the raw value when it is not a usable date.
 */
function createTimeElement(date, rawValue) {
  if (!date) {
    return rawValue;
  }
  const time = createElement('time', {
    text: new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' }).format(date),
  });
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
