// The order shown on the page: its heading and status badge, then each section. Its
// courier card fills itself (order-courier), since it comes from another service.

import { describeValue, isPlainObject } from './json-values.js';
import { renderDelivery, renderPayment, renderSummary } from './order-fields.js';
import { forgetCourier } from './order-courier.js';
import { renderItems } from './order-items.js';
import { forgetRawJson, showRawJson } from './raw-json.js';
import { fillStatusBadge } from './status-badge.js';

const BASE_TITLE = document.title;
const article = document.getElementById('order');
const heading = document.getElementById('order-heading');
const headingId = document.getElementById('order-heading-id');
const statusBadge = document.getElementById('order-status-badge');

export function renderOrder(order, status) {
  const delivery = isPlainObject(order.delivery) ? order.delivery : {};
  const payment = isPlainObject(order.payment) ? order.payment : {};
  const items = Array.isArray(order.items) ? order.items : [];

  headingId.textContent = describeValue(order.order_uid);
  fillStatusBadge(statusBadge, status);
  renderSummary(order, status);
  renderDelivery(delivery);
  renderPayment(payment);
  renderItems(items, payment.currency, order.order_uid);
  showRawJson(order);

  article.hidden = false;
  document.title = `Order ${describeValue(order.order_uid)} · ${BASE_TITLE}`;
}

/** The order's status changed (its document did not). */
export function updateStatus(order, status) {
  fillStatusBadge(statusBadge, status);
  renderSummary(order, status);
}

/** The order was erased while shown: it stays on the page, marked so. */
export function markErased() {
  statusBadge.className = 'badge';
  statusBadge.dataset.status = 'erased';
  statusBadge.textContent = 'erased';
  statusBadge.title = 'This order was erased; what is shown is what it was.';
}

export function hideOrder() {
  article.hidden = true;
  forgetRawJson();
  forgetCourier();
  document.title = BASE_TITLE;
}

/** Moves the keyboard focus to the order shown (it was opened from a link). */
export function focusOrder() {
  heading.focus();
}
