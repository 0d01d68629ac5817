// A live stream of the order service (server-sent events under /api/v1/events): an
// EventSource that reconnects by itself (with Last-Event-ID, so nothing is missed), and,
// when the service refuses it (503 when too many streams are open, or no replica answers
// for a moment) or cannot stream at all, opens a new one after a pause, resuming from the
// last event seen (`last_event_id`). Its state is reported as 'live', 'connecting' or
// 'unavailable', which the page shows (live-indicator) and acts on (a Refresh button).

const RETRY_AFTER_MS = 5000;

export class LiveStream {
  /**
   * `url`: the stream's address; `handlers`: event kind -> function(data, id);
   * `onState(state)`: called when the state changes.
   */
  constructor(url, handlers, onState) {
    this.url = url;
    this.handlers = handlers;
    this.onState = onState;
    this.source = null;
    this.retryTimer = null;
    this.closed = false;
    this.state = null;
    this.lastEventId = '';
    this.open();
  }

  open() {
    if (this.closed) {
      return;
    }
    // A new EventSource starts with no Last-Event-ID: the last one seen goes in the address.
    const url = new URL(this.url, window.location.href);
    if (this.lastEventId) {
      url.searchParams.set('last_event_id', this.lastEventId);
    }
    const source = new EventSource(url);
    this.source = source;
    this.setState('connecting');
    source.addEventListener('open', () => this.setState('live'));
    source.addEventListener('error', () => {
      if (this.source !== source) {
        return;
      }
      if (source.readyState === EventSource.CLOSED) {
        // Refused (not an event stream, e.g. 503): the browser does not retry; we do.
        this.setState('unavailable');
        this.retryTimer = setTimeout(() => this.open(), RETRY_AFTER_MS);
      } else {
        this.setState('connecting'); // the browser reconnects by itself
      }
    });
    // Where the stream stands, before any change came (the newest orders' stream).
    source.addEventListener('position', (event) => {
      if (this.source === source && event.lastEventId) {
        this.lastEventId = event.lastEventId;
      }
    });
    for (const [kind, handle] of Object.entries(this.handlers)) {
      source.addEventListener(kind, (event) => {
        if (this.source !== source) {
          return;
        }
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return; // not ours: ignored
        }
        if (event.lastEventId) {
          this.lastEventId = event.lastEventId;
        }
        handle(data, event.lastEventId);
      });
    }
  }

  setState(state) {
    if (state !== this.state) {
      this.state = state;
      this.onState(state);
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = null;
  }
}
