// A WebSocket event stream that resumes where it left off.
//
// Frames: {type:"hello", cursor} · {type:"events", events:[{cursor, team_id, …}]} · {type:"heartbeat", cursor}.
// The client keeps the last cursor it delivered (per team), reconnects with exponential backoff and jitter and
// `?after=<cursor>`, and drops anything at or below a cursor it already delivered, so a reconnect neither
// loses nor repeats events.

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
const SILENCE_MS = 45000; // no frame (not even a heartbeat) for this long: the connection is dead

export class EventStream {
  /**
   * @param {string} path  e.g. `/ws/teams/team_…` or `/ws/events`
   * @param {object} opts
   *   after: initial cursor (number) or null for "live from now";
   *   resume: send `?after=` on (re)connect (team streams: true; the global stream: false);
   *   onEvents(events, {replay}), onHello(frame, {reconnect}), onStatus(state) with state in
   *   'connecting' | 'live' | 'reconnecting' | 'offline'.
   */
  constructor(path, { after = null, teamId = null, resume = true, onEvents, onHello, onStatus } = {}) {
    this.path = path;
    this.resume = resume;
    this.teamId = teamId;
    this.cursors = new Map(); // team_id → last delivered cursor
    this.cursor = after;
    if (teamId && after !== null) this.cursors.set(teamId, after);
    this.onEvents = onEvents || (() => {});
    this.onHello = onHello || (() => {});
    this.onStatus = onStatus || (() => {});
    this.socket = null;
    this.attempts = 0;
    this.connectedOnce = false;
    this.closed = false;
    this.retryTimer = null;
    this.silenceTimer = null;
    this.state = 'connecting';
    this._onOnline = () => this.reconnectNow();
    this._onVisible = () => { if (document.visibilityState === 'visible' && !this.socket) this.reconnectNow(); };
  }

  start() {
    window.addEventListener('online', this._onOnline);
    document.addEventListener('visibilitychange', this._onVisible);
    this._connect();
    return this;
  }

  stop() {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    window.removeEventListener('online', this._onOnline);
    document.removeEventListener('visibilitychange', this._onVisible);
    if (this.socket) this.socket.close(1000, 'page closed');
    this.socket = null;
  }

  /** Mark `cursor` as already seen (e.g. after loading history over REST). */
  advance(cursor, teamId = this.teamId) {
    if (cursor === null || cursor === undefined) return;
    if (teamId) this.cursors.set(teamId, Math.max(this.cursors.get(teamId) ?? 0, cursor));
    if (this.cursor === null || cursor > this.cursor) this.cursor = cursor;
  }

  reconnectNow() {
    if (this.closed || (this.socket && this.socket.readyState <= 1)) return;
    clearTimeout(this.retryTimer);
    this.attempts = 0;
    this._connect();
  }

  _url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = this.resume && this.cursor !== null ? `?after=${encodeURIComponent(this.cursor)}` : '';
    return `${scheme}//${location.host}${this.path}${query}`;
  }

  _setStatus(state) {
    if (state === this.state) return;
    this.state = state;
    this.onStatus(state);
  }

  _connect() {
    if (this.closed) return;
    this._setStatus(this.connectedOnce ? 'reconnecting' : 'connecting');
    let socket;
    try {
      socket = new WebSocket(this._url());
    } catch {
      this._scheduleRetry();
      return;
    }
    this.socket = socket;
    let helloSeen = false;
    socket.addEventListener('message', (msg) => {
      this._armSilence();
      let frame;
      try { frame = JSON.parse(msg.data); } catch { return; }
      if (!frame || typeof frame !== 'object') return;
      if (frame.type === 'hello') {
        helloSeen = true;
        const reconnect = this.connectedOnce;
        this.connectedOnce = true;
        this.attempts = 0;
        if (this.cursor === null && typeof frame.cursor === 'number' && this.resume) this.advance(frame.cursor);
        this._setStatus('live');
        this.onHello(frame, { reconnect });
      } else if (frame.type === 'events' && Array.isArray(frame.events)) {
        if (!helloSeen) { this.connectedOnce = true; this._setStatus('live'); }
        const fresh = this._dedupe(frame.events);
        if (fresh.length) this.onEvents(fresh, { replay: false });
      } else if (frame.type === 'heartbeat') {
        if (!helloSeen) { helloSeen = true; this.connectedOnce = true; this._setStatus('live'); }
      } else if (frame.type === 'error') {
        console.warn('event stream error', frame);
      }
    });
    socket.addEventListener('open', () => this._armSilence());
    socket.addEventListener('close', () => {
      if (this.socket === socket) this.socket = null;
      clearTimeout(this.silenceTimer);
      if (!this.closed) this._scheduleRetry();
    });
    socket.addEventListener('error', () => { /* a close event follows */ });
  }

  _dedupe(events) {
    const fresh = [];
    for (const event of events) {
      if (!event || typeof event.cursor !== 'number') continue;
      const team = event.team_id || '';
      const last = this.cursors.get(team);
      if (last !== undefined && event.cursor <= last) continue;
      this.cursors.set(team, event.cursor);
      if (this.cursor === null || event.cursor > this.cursor) this.cursor = event.cursor;
      fresh.push(event);
    }
    return fresh;
  }

  _armSilence() {
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      if (this.socket) this.socket.close(4000, 'silent');
    }, SILENCE_MS);
  }

  _scheduleRetry() {
    clearTimeout(this.retryTimer);
    this._setStatus(navigator.onLine === false ? 'offline' : 'reconnecting');
    const exp = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempts);
    const delay = exp / 2 + Math.random() * (exp / 2); // "equal jitter"
    this.attempts += 1;
    this.retryTimer = setTimeout(() => this._connect(), delay);
  }
}

/** Reflect a stream's state in the top bar indicator. */
export function bindConnectionIndicator(el) {
  const label = el ? el.querySelector('.conn-label') : null;
  const texts = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline' };
  return (state) => {
    if (!el) return;
    el.dataset.state = state;
    if (label) label.textContent = texts[state] || state;
    el.title = state === 'live' ? 'Receiving live updates' : 'Live updates paused; catching up on reconnect';
  };
}
