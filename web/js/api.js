// The APIs as the page uses them: from the query service one order, its status and pages of
// the newest orders; from the courier service, on the same origin behind the ingress, who
// delivers an order and the couriers. Each answer is classified here, so the views only
// decide what to show.

import { isPlainObject } from './json-values.js';

// Resolved against the page, i.e. /api/v1/...
const ORDERS_PATH = 'api/v1/orders';
const ASSIGNMENTS_PATH = 'api/v1/assignments';
const COURIERS_PATH = 'api/v1/couriers';
export const ORDER_STATUSES = new Set(['created', 'cancelled', 'completed']);
export const ASSIGNMENT_STATES = new Set(['assigned', 'delivered', 'waiting', 'cancelled', 'completed', 'erased', 'pending', 'parked']);
export const SLOW_AFTER_MS = 3000;
export const GIVE_UP_AFTER_MS = 15000;

/**
 * A request the page is waiting for: it calls `onSlow` after SLOW_AFTER_MS and aborts
 * (with `timedOut` set) after GIVE_UP_AFTER_MS, unless it settled or was cancelled first.
 */
export class TimedRequest {
  constructor(onSlow) {
    this.controller = new AbortController();
    this.timedOut = false;
    this.timers = [
      setTimeout(onSlow, SLOW_AFTER_MS),
      setTimeout(() => {
        this.timedOut = true;
        this.controller.abort();
      }, GIVE_UP_AFTER_MS),
    ];
  }

  get signal() {
    return this.controller.signal;
  }

  /** The answer is in (or failed): no slow notice, no giving up any more. */
  settle() {
    this.timers.forEach(clearTimeout);
  }

  /**
   * What `load(signal)` resolves to, settling this request either way. A rejection (a
   * network error, an abort) becomes { kind: 'timeout' } when this request gave up, and
   * { kind: failedKind } otherwise.
   */
  async outcome(load, failedKind = 'unreachable') {
    try {
      return await load(this.signal);
    } catch {
      return { kind: this.timedOut ? 'timeout' : failedKind };
    } finally {
      this.settle();
    }
  }

  /** Abandons the request: a newer one took over. */
  cancel() {
    this.settle();
    this.controller.abort();
  }
}

/**
 * Fetches one order and classifies the answer.
 * Resolves to { kind: 'found' | 'not-found' | 'bad-id' | 'unavailable' | 'unexpected', ... };
 * rejects on network errors and aborts.
 */
export async function requestOrder(id, signal) {
  const response = await fetchJson(apiUrl(`${ORDERS_PATH}/${encodeURIComponent(id)}`), signal);
  const body = await readJson(response);
  const detail = isPlainObject(body) ? body.detail : undefined;
  if (response.status === 200) {
    // The entity tag is the order's version: where the order's live stream takes over.
    const version = Number.parseInt((response.headers.get('etag') ?? '').replaceAll('"', ''), 10);
    return isPlainObject(body)
      ? { kind: 'found', order: body, version: Number.isSafeInteger(version) ? version : 0 }
      : { kind: 'unexpected', status: 200 };
  }
  if (response.status === 404) {
    return { kind: 'not-found' };
  }
  if (response.status === 400) {
    return { kind: 'bad-id', detail };
  }
  if (response.status >= 500) {
    return { kind: 'unavailable', detail };
  }
  return { kind: 'unexpected', status: response.status };
}

/** The order's status ('created', 'cancelled', 'completed'), or 'unknown' if that fails. */
export async function requestStatus(id, signal) {
  try {
    const url = apiUrl(`${ORDERS_PATH}/${encodeURIComponent(id)}/status`);
    const response = await fetchJson(url, signal);
    const body = await readJson(response);
    if (response.ok && isPlainObject(body) && ORDER_STATUSES.has(body.status)) {
      return body.status;
    }
  } catch {
    // shown as unknown; the order itself decides what the page says
  }
  return 'unknown';
}

/**
 * One page of the order summaries `filters` find (the API's search parameters), newest
 * first: { kind: 'page', orders, nextCursor }, or
 * { kind: 'refused', status, detail } when the service answers with an error.
 * Rejects on network errors and aborts.
 */
export async function requestOrderPage({ limit, cursor, filters }, signal) {
  const url = apiUrl(ORDERS_PATH);
  url.searchParams.set('limit', String(limit));
  for (const [name, value] of Object.entries(filters)) {
    url.searchParams.set(name, value);
  }
  if (cursor !== null) {
    url.searchParams.set('cursor', cursor);
  }
  const response = await fetchJson(url, signal);
  const body = await readJson(response);
  if (response.ok && isPlainObject(body) && Array.isArray(body.orders)) {
    const nextCursor = typeof body.next_cursor === 'string' && body.next_cursor !== '' ? body.next_cursor : null;
    return { kind: 'page', orders: body.orders.filter(isPlainObject), nextCursor };
  }
  return { kind: 'refused', status: response.status, detail: isPlainObject(body) ? body.detail : undefined };
}

/**
 * Who delivers order `id`: { kind: 'found', assignment } (its `state` one of
 * ASSIGNMENT_STATES), { kind: 'unseen' } when the courier service has not seen the order
 * yet, { kind: 'unavailable' } when no courier API answers on this origin (a query
 * replica opened directly answers 404 without the courier's mark, or the network fails),
 * or { kind: 'failed', status, detail } for any other answer. Rejects only on an abort.
 */
export async function requestAssignment(id, signal) {
  let response;
  let body;
  try {
    response = await fetchJson(apiUrl(`${ASSIGNMENTS_PATH}/${encodeURIComponent(id)}`), signal);
    body = await readJson(response);
  } catch (error) {
    if (signal.aborted) {
      throw error;
    }
    return { kind: 'unavailable' };
  }
  if (response.status === 200 && isPlainObject(body) && ASSIGNMENT_STATES.has(body.state)) {
    return { kind: 'found', assignment: body };
  }
  // The courier service names the order in its 404; any other 404 is a server without it.
  if (response.status === 404 && isPlainObject(body) && isPlainObject(body.extra) && body.extra.order_id === id) {
    return { kind: 'unseen' };
  }
  if (response.status === 404) {
    return { kind: 'unavailable' };
  }
  return { kind: 'failed', status: response.status, detail: isPlainObject(body) ? body.detail : undefined };
}

/**
 * One page of couriers by id, with the statistics of all of them:
 * { kind: 'page', couriers, nextAfter, stats } (stats null if only they failed), or
 * { kind: 'unavailable', status } when the courier API does not answer here.
 * Rejects on network errors and aborts.
 */
export async function requestCourierPage({ limit, after }, signal) {
  const url = apiUrl(COURIERS_PATH);
  url.searchParams.set('limit', String(limit));
  if (after !== null) {
    url.searchParams.set('after', String(after));
  }
  const [pageResponse, statsResponse] = await Promise.all([
    fetchJson(url, signal),
    fetchJson(apiUrl(`${COURIERS_PATH}/stats`), signal),
  ]);
  const [page, stats] = await Promise.all([readJson(pageResponse), readJson(statsResponse)]);
  if (!(pageResponse.ok && isPlainObject(page) && Array.isArray(page.couriers))) {
    return { kind: 'unavailable', status: pageResponse.status };
  }
  return {
    kind: 'page',
    couriers: page.couriers.filter(isPlainObject),
    nextAfter: Number.isSafeInteger(page.next_after) ? page.next_after : null,
    stats: statsResponse.ok && isPlainObject(stats) ? stats : null,
  };
}

function apiUrl(path) {
  return new URL(path, document.baseURI);
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
