// Live events over a WebSocket to /v1/events.
//
// A browser cannot set the Authorization header on a WebSocket, so the token goes in
// the first frame ({"type": "authenticate"}), never in the URL. Every event but
// ready, resync_required and typing has an id, increasing for this user; after a
// drop we reconnect with ?since=<last id handled> and the server replays what we
// missed, so nothing is lost. Ids at or below the last one are ignored, so nothing
// is handled twice either.
//
// A socket whose network has gone can stay "open" for a long time (the server's
// pings are invisible to scripts), so the browser's offline event drops it at once,
// and the online event reconnects at once rather than waiting for the backoff.

const DELAYS = [500, 1000, 2000, 4000, 8000, 15000];

export class LiveEvents {
  /**
   * token: the bearer token.
   * onEvent(event): every event but ready, in the order the server sent them.
   * onReady({initial, resumed}): the connection is authenticated; resumed says
   *   whether it was asked to replay what was missed (if not, and this is not the
   *   first connection, the caller must reload its state through the REST API).
   * onStatus(status): 'connecting', 'live', 'reconnecting' or 'offline'.
   * onRejected(reason): the server refused the token (close 1008): log in again.
   */
  constructor({ token, onEvent, onReady, onStatus, onRejected }) {
    this.token = token;
    this.onEvent = onEvent;
    this.onReady = onReady;
    this.onStatus = onStatus;
    this.onRejected = onRejected;
    this.lastId = null;
    this.ws = null;
    this.timer = null;
    this.failures = 0;
    this.everReady = false;
    this.stopped = false;
    this.handleOnline = () => this.reconnectNow();
    this.handleOffline = () => {
      this.drop();
      clearTimeout(this.timer);
      this.onStatus('offline');
    };
  }

  start() {
    window.addEventListener('online', this.handleOnline);
    window.addEventListener('offline', this.handleOffline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.handleOnline);
    window.removeEventListener('offline', this.handleOffline);
    clearTimeout(this.timer);
    this.drop();
  }

  /** Drop the current connection (if any) and connect again, resuming, right now. */
  reconnectNow() {
    if (this.stopped) return;
    this.drop();
    this.failures = 0;
    this.connect();
  }

  connect() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    if (!navigator.onLine) {
      this.onStatus('offline'); // the online event brings us back
      return;
    }
    const since = this.lastId;
    const url = new URL('/v1/events', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (since !== null) url.searchParams.set('since', String(since));
    const ws = new WebSocket(url);
    this.ws = ws;
    this.onStatus(this.everReady ? 'reconnecting' : 'connecting');
    ws.onopen = () => ws.send(JSON.stringify({ type: 'authenticate', token: this.token }));
    ws.onmessage = (message) => {
      if (this.ws !== ws) return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event.type === 'ready') {
        const initial = !this.everReady;
        this.everReady = true;
        this.failures = 0;
        this.onStatus('live');
        this.onReady({ initial, resumed: since !== null });
        return;
      }
      if (typeof event.id === 'number') {
        if (this.lastId !== null && event.id <= this.lastId) return; // seen already
        this.lastId = event.id;
      }
      this.onEvent(event);
    };
    ws.onclose = (close) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (close.code === 1008) {
        this.onRejected(close.reason);
        return;
      }
      this.retryLater();
    };
  }

  retryLater() {
    const delay = DELAYS[Math.min(this.failures, DELAYS.length - 1)];
    this.failures += 1;
    this.onStatus(navigator.onLine ? 'reconnecting' : 'offline');
    // Jitter, so that a restarted server is not met by every client at once.
    this.timer = setTimeout(() => this.connect(), delay * (0.75 + Math.random() / 2));
  }

  drop() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try {
        ws.close(1000);
      } catch {
        // closing a socket that never opened can throw; it is gone either way
      }
    }
  }
}
