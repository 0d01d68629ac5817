// The page's address: `?id=` names the order shown, so a link to it can be shared and the
// back and forward buttons move between the orders looked up.

export function readIdFromUrl() {
  return new URLSearchParams(window.location.search).get('id');
}

export function pushIdToUrl(id) {
  if (readIdFromUrl() === id) {
    return; // looking up the same id again must not add a history entry
  }
  window.history.pushState({ id }, '', orderPageUrl(id));
}

export function replaceIdInUrl(id) {
  window.history.replaceState({ id }, '', orderPageUrl(id));
}

/** This page's address showing order `id`: the link people share. */
export function orderPageUrl(id) {
  const url = new URL(window.location.href);
  url.search = '';
  url.hash = '';
  url.searchParams.set('id', id);
  return url;
}
