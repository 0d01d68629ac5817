// The order's summary, delivery and payment sections: each a <dl> of labelled values,
// declared as a list of fields so that a new field is one line.

import { createElement, createValueCell } from './elements.js';
import { createTimeElement, formatMoney, parseIsoDate, parseUnixSeconds } from './format.js';
import { createStatusBadge } from './status-badge.js';

/**
 * One label/value row: `name` is the document's field, `show` turns its value (and the
 * whole record, for context such as the currency) into text or a Node.
 */
function field(name, label, { show = (value) => value, className } = {}) {
  return { name, label, show, className };
}

const mono = { className: 'mono' };
const money = (value, payment) => formatMoney(value, payment.currency);

// The summary's record is the order with its status, which comes from its own endpoint.
const SUMMARY = [
  field('order_uid', 'Order id', mono),
  field('track_number', 'Track number', mono),
  field('date_created', 'Created', { show: (value) => createTimeElement(parseIsoDate(value), value) }),
  field('status', 'Status', { show: createStatusBadge }),
  field('customer_id', 'Customer'),
  field('delivery_service', 'Delivery service'),
  field('entry', 'Entry'),
  field('locale', 'Locale'),
  field('internal_signature', 'Internal signature'),
  field('shardkey', 'Shard key'),
  field('sm_id', 'SM id'),
  field('oof_shard', 'OOF shard'),
];

const DELIVERY = [
  field('name', 'Name'),
  field('phone', 'Phone'),
  field('email', 'Email'),
  field('address', 'Address'),
  field('city', 'City'),
  field('region', 'Region'),
  field('zip', 'Zip'),
];

const PAYMENT = [
  field('amount', 'Amount', { show: money, className: 'strong' }),
  field('goods_total', 'Goods total', { show: money }),
  field('delivery_cost', 'Delivery cost', { show: money }),
  field('custom_fee', 'Custom fee', { show: money }),
  field('currency', 'Currency'),
  field('payment_dt', 'Paid at', { show: (value) => createTimeElement(parseUnixSeconds(value), value) }),
  field('provider', 'Provider'),
  field('bank', 'Bank'),
  field('transaction', 'Transaction', mono),
  field('request_id', 'Request id', mono),
];

const lists = {
  summary: document.getElementById('summary-fields'),
  delivery: document.getElementById('delivery-fields'),
  payment: document.getElementById('payment-fields'),
};

export function renderSummary(order, status) {
  fillFieldList(lists.summary, SUMMARY, { ...order, status });
}

export function renderDelivery(delivery) {
  fillFieldList(lists.delivery, DELIVERY, delivery);
}

export function renderPayment(payment) {
  fillFieldList(lists.payment, PAYMENT, payment);
}

/** Replaces the content of a <dl> with a row per field of `record`. */
function fillFieldList(list, fields, record) {
  const rows = fields.map(({ name, label, show, className }) => {
    const row = createElement('div', { className: 'field' });
    row.dataset.field = name;
    row.append(
      createElement('dt', { text: label }),
      createValueCell('dd', show(record[name], record), className),
    );
    return row;
  });
  list.replaceChildren(...rows);
}
