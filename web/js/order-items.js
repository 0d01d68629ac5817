// The order's items: a row per item in its position, and a totals row.

import { createElement, createRowHeader, createValueCell } from './elements.js';
import { formatMoney, formatPercent } from './format.js';
import { describeValue, isPlainObject } from './json-values.js';

const COLUMNS = 12;
const caption = document.getElementById('items-caption');
const body = document.getElementById('items-body');
const foot = document.getElementById('items-foot');

export function renderItems(items, currency, orderId) {
  const count = `${items.length} ${items.length === 1 ? 'item' : 'items'}`;
  caption.textContent = `${count} in order ${describeValue(orderId)}`;

  const rows = items.map((item, index) => createItemRow(isPlainObject(item) ? item : {}, index, currency));
  if (rows.length === 0) {
    const cell = createElement('td', { className: 'empty', text: 'This order has no items.' });
    cell.colSpan = COLUMNS;
    rows.push(createElement('tr', {}, [cell]));
  }
  body.replaceChildren(...rows);
  foot.replaceChildren(createTotalsRow(items, currency));
}

function createItemRow(item, index, currency) {
  return createElement('tr', {}, [
    createRowHeader({ className: 'num', text: String(index + 1) }),
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

function createTotalsRow(items, currency) {
  const label = createRowHeader({ text: 'Total' });
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

function sumOf(items, field) {
  return items
    .map((item) => (isPlainObject(item) ? item[field] : undefined))
    .filter((value) => typeof value === 'number' && Number.isFinite(value))
    .reduce((sum, value) => sum + value, 0);
}
