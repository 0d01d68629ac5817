// How a courier's transport and status read on the page, shared by the order's courier
// card and the couriers list.

import { createElement } from './elements.js';
import { describeValue } from './json-values.js';

const TRANSPORTS = { on_foot: 'on foot', scooter: 'scooter', car: 'car' };
const COURIER_STATUSES = new Set(['available', 'busy', 'paused']);

/** 'on_foot' → 'on foot'; a value the API does not define is shown as it came. */
export function describeTransport(transport) {
  return Object.hasOwn(TRANSPORTS, transport) ? TRANSPORTS[transport] : describeValue(transport);
}

/** A badge for a courier's status ('unknown' when it is not one the API defines). */
export function createCourierStatusBadge(status) {
  const known = COURIER_STATUSES.has(status) ? status : 'unknown';
  const badge = createElement('span', { className: 'badge', text: known });
  badge.dataset.courierStatus = known;
  return badge;
}
