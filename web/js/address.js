// The page's address holds what the page shows, so a link to it can be shared and the back
// and forward buttons move between what was looked at: `?id=` names the order shown, and
// the search's filters (`track_number`, `customer_id`, `status`, `created_from`,
// `created_to`) narrow the list of orders.

export const FILTER_NAMES = ['track_number', 'customer_id', 'status', 'created_from', 'created_to'];

export function readIdFromUrl() {
  return new URLSearchParams(window.location.search).get('id');
}

/** The search in the address: each filter it sets, with a value that is not empty. */
export function readFiltersFromUrl() {
  const params = new URLSearchParams(window.location.search);
  const filters = {};
  for (const name of FILTER_NAMES) {
    const value = params.get(name);
    if (value !== null && value !== '') {
      filters[name] = value;
    }
  }
  return filters;
}

export function sameFilters(a, b) {
  return FILTER_NAMES.every((name) => (a[name] ?? '') === (b[name] ?? ''));
}

export function pushIdToUrl(id) {
  if (readIdFromUrl() === id) {
    return; // looking up the same id again must not add a history entry
  }
  window.history.pushState(null, '', orderPageUrl(id));
}

export function replaceIdInUrl(id) {
  window.history.replaceState(null, '', orderPageUrl(id));
}

/** This page's address showing order `id`, with the search in force: the link people share. */
export function orderPageUrl(id) {
  return pageUrl(id, readFiltersFromUrl());
}

/** A new history entry for the search `filters`, keeping the order shown. */
export function pushFiltersToUrl(filters) {
  if (sameFilters(filters, readFiltersFromUrl())) {
    return; // the same search again must not add a history entry
  }
  window.history.pushState(null, '', pageUrl(readIdFromUrl(), filters));
}

function pageUrl(id, filters) {
  const url = new URL(window.location.href);
  url.search = '';
  url.hash = '';
  if (id !== null) {
    url.searchParams.set('id', id);
  }
  for (const name of FILTER_NAMES) {
    if (filters[name]) {
      url.searchParams.set(name, filters[name]);
    }
  }
  return url;
}
