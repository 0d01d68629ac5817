// The badge that shows an order's status, in the order's head, its summary and the list.

import { ORDER_STATUSES } from './api.js';
import { createElement } from './elements.js';

/** Makes `element` the badge for `status` ('unknown' when it is not one the API knows). */
export function fillStatusBadge(element, status) {
  const known = ORDER_STATUSES.has(status) ? status : 'unknown';
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

export function createStatusBadge(status) {
  return fillStatusBadge(createElement('span'), status);
}
