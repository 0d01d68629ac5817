// The order shown, kept up to date without a reload: its live stream
// (/api/v1/events/orders/{id}) says when its status or content changes, when it is erased
// and when its courier changes; the page updates in place. When the stream is unavailable
// the order's "Refresh" button appears instead.

import { LiveStream } from './live-stream.js';
import { showLiveState } from './live-indicator.js';
import { refreshCourier } from './order-courier.js';
import { markErased, renderOrder, updateStatus } from './order-view.js';

const STREAM_PATH = '/api/v1/events/orders/';
const parts = {
  indicator: document.getElementById('order-live'),
  region: document.getElementById('order-live-status'),
  refresh: document.getElementById('order-refresh'),
};

const SENTENCES = {
  live: 'Live: this order updates by itself as it changes.',
  connecting: 'Reconnecting to live updates of this order…',
  unavailable: 'Live updates of this order are unavailable; use Refresh to see changes.',
  off: '',
};

/** What is followed: { id, order, version, status, stream }. */
let followed = null;

/**
 * Follows order `id`, shown at `version` with `status`; `reload()` looks it up anew (when
 * the stream says what was missed is no longer known, or Refresh is pressed).
 */
export function followOrder(id, order, version, status, reload) {
  stopFollowingOrder();
  const current = { id, order, version, status };
  const url = `${STREAM_PATH}${encodeURIComponent(id)}?last_event_id=${version}`;
  current.stream = new LiveStream(
    url,
    {
      order: (data) => {
        if (!(data.version > current.version)) {
          return; // seen already
        }
        current.version = data.version;
        if (data.order && typeof data.order === 'object') {
          current.order = data.order;
          current.status = data.status;
          renderOrder(data.order, data.status);
          announce(`Order ${id} changed.`);
        } else if (data.status !== current.status) {
          current.status = data.status;
          updateStatus(current.order, data.status);
          announce(`Order ${id} is now ${data.status}.`);
        }
      },
      erased: (data) => {
        if (data.version > current.version) {
          current.version = data.version;
          markErased();
          announce(`Order ${id} was erased.`);
        }
      },
      courier: () => refreshCourier(id),
      reload: () => reload(),
    },
    (state) => showLiveState(parts, state, SENTENCES[state]),
  );
  parts.refresh.onclick = () => reload();
  followed = current;
}

export function stopFollowingOrder() {
  followed?.stream.close();
  followed = null;
  showLiveState(parts, 'off', SENTENCES.off);
}

function announce(sentence) {
  parts.region.textContent = sentence;
}
