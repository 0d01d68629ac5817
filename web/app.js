// Order lookup page: type or paste an order id and see the order and who delivers it;
// search the orders and browse the newest; see the couriers. The entry point: it wires the
// page's parts together. A module script runs once the document is parsed, so each module
// finds its elements when first imported.
//
// Security note: every value that comes from the user or the API is put into the page
// with textContent / createTextNode / element properties only (see js/elements.js). Never
// use innerHTML, insertAdjacentHTML, document.write or inline styles: the page runs under
// the query service's Content-Security-Policy (script-src 'self'; style-src 'self').

import { loadCouriers, wireCouriers } from './js/couriers.js';
import { wireNewestOrders } from './js/newest-orders.js';
import { openOrder, showOrderFromUrl, wireOrderLookup } from './js/order-lookup.js';
import { showSearchFromUrl, wireOrderSearch } from './js/order-search.js';
import { wireRawJson } from './js/raw-json.js';

wireOrderLookup();
wireRawJson();
wireNewestOrders(openOrder);
wireOrderSearch();
wireCouriers(openOrder);

showOrderFromUrl();
showSearchFromUrl();
loadCouriers({ reset: true });
