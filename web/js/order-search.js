// The search form: filters for the list of orders. A search goes into the address first,
// so it can be shared and the back and forward buttons return to it; the list then shows
// what the API finds for it.

import { FILTER_NAMES, pushFiltersToUrl, readFiltersFromUrl, sameFilters } from './address.js';
import { loadNewestOrders } from './newest-orders.js';

const DAY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;
const LABELS = {
  track_number: 'Track number',
  customer_id: 'Customer id',
  status: 'Status',
  created_from: 'Created from',
  created_to: 'Created to',
};

const form = document.getElementById('search-form');
const clearButton = document.getElementById('search-clear');
const problem = document.getElementById('search-problem');
const inputs = Object.fromEntries(FILTER_NAMES.map((name) => [name, form.elements.namedItem(name)]));

/** The search the list shows (as in the address), so a popstate that changed only the order changes nothing. */
let shownFilters = null;

export function wireOrderSearch() {
  form.addEventListener('submit', handleSubmit);
  clearButton.addEventListener('click', () => {
    fillForm({});
    search({});
  });
  window.addEventListener('popstate', () => {
    const filters = readFiltersFromUrl();
    if (shownFilters === null || !sameFilters(filters, shownFilters)) {
      showSearchFromUrl();
    }
  });
}

/** Shows the search the address holds (page load, back and forward): in the form and the list. */
export function showSearchFromUrl() {
  const filters = readFiltersFromUrl();
  fillForm(filters);
  showSearch(filters);
}

function handleSubmit(event) {
  event.preventDefault();
  clearProblem();
  const unreadable = FILTER_NAMES.find((name) => inputs[name].validity?.badInput);
  if (unreadable) {
    showProblem(unreadable, `${LABELS[unreadable]} is not a complete date.`, { focus: true });
    return;
  }
  const filters = {};
  for (const name of FILTER_NAMES) {
    const value = inputs[name].value.trim();
    if (value !== '') {
      filters[name] = value;
    }
  }
  search(filters);
}

/** A search from the form: refused with the reason, or shown and put in the address. */
function search(filters) {
  if (showSearch(filters, { focus: true })) {
    pushFiltersToUrl(filters);
  }
}

/**
 * Shows what `filters` (as in the address) find, or says why they cannot be searched;
 * answers whether the search is shown. The focus moves to a refused field only when the
 * person just submitted it.
 */
function showSearch(filters, { focus = false } = {}) {
  clearProblem();
  const query = apiFilters(filters);
  if (query.problem) {
    showProblem(query.field, query.problem, { focus });
    return false;
  }
  shownFilters = filters;
  loadNewestOrders({ reset: true, filters: query.filters });
  return true;
}

/**
 * The API's filters for a search from the address: the days become instants in the
 * reader's time zone, from the start of the first day to the end of the last.
 * Answers { filters } or { field, problem }.
 */
function apiFilters(filters) {
  const query = { ...filters };
  const from = filters.created_from === undefined ? null : startOfDay(filters.created_from, 0);
  const to = filters.created_to === undefined ? null : startOfDay(filters.created_to, 1);
  if (from === undefined) {
    return { field: 'created_from', problem: 'Created from must be a day, such as 2026-11-30.' };
  }
  if (to === undefined) {
    return { field: 'created_to', problem: 'Created to must be a day, such as 2026-11-30.' };
  }
  if (from !== null && to !== null && from >= to) {
    return { field: 'created_to', problem: 'Created to is before Created from.' };
  }
  if (from !== null) {
    query.created_from = from.toISOString();
  }
  if (to !== null) {
    query.created_to = to.toISOString();
  }
  return { filters: query };
}

/** Local midnight `daysLater` days after the day `text` (YYYY-MM-DD); undefined if it is no day. */
function startOfDay(text, daysLater) {
  const match = DAY_PATTERN.exec(text);
  if (!match) {
    return undefined;
  }
  const [year, month, day] = match.slice(1).map(Number);
  const date = new Date(0);
  date.setFullYear(year, month - 1, day); // not new Date(y, m, d): it reads years below 100 as 19xx
  date.setHours(0, 0, 0, 0);
  if (date.getFullYear() !== year || date.getMonth() !== month - 1 || date.getDate() !== day) {
    return undefined; // e.g. February 30th
  }
  date.setDate(date.getDate() + daysLater);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function fillForm(filters) {
  for (const name of FILTER_NAMES) {
    inputs[name].value = filters[name] ?? '';
  }
  clearProblem();
}

function showProblem(field, text, { focus }) {
  problem.textContent = text;
  inputs[field].setAttribute('aria-invalid', 'true');
  inputs[field].setAttribute('aria-describedby', 'search-problem');
  if (focus) {
    inputs[field].focus();
  }
}

function clearProblem() {
  problem.textContent = '';
  for (const input of Object.values(inputs)) {
    input.removeAttribute('aria-invalid');
    input.removeAttribute('aria-describedby');
  }
}
