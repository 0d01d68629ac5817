// Links to an order's page, in the lists that name orders (the newest orders, the
// couriers' current orders): a plain click opens the order in place.

import { orderPageUrl } from './address.js';
import { createElement } from './elements.js';
import { ID_PATTERN } from './order-id.js';

/** A link to the page of order `id`, or null when `id` is not an order id. */
export function createOrderLink(id) {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    return null;
  }
  const link = createElement('a', { text: id });
  link.href = orderPageUrl(id).href;
  link.dataset.orderId = id;
  return link;
}

/** Links open the order in place; modified clicks keep the browser's behaviour. */
export function handleOrderLinkClick(event, openOrder) {
  const link = event.target.closest('a[data-order-id]');
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
    return;
  }
  event.preventDefault();
  openOrder(link.dataset.orderId);
}
