// The live feed: the hub's SSE stream, kept gap-free.
//
// The map mirrors the hub's open alerts at one log id. Events are applied strictly in log order:
// a duplicate is dropped, a gap (an event whose id is not the next one, e.g. after a reconnect)
// is filled from /api/v1/log before anything newer is applied, and after every reconnect the map
// asks the log for anything it may have missed. So the state shown is always the fold of the log
// up to `logId`, the number shown in the header.

const LOG_PAGE = 1000;
const RESET_OVER = 5000; // a longer gap is cheaper to skip with a fresh snapshot
const ALL_STATUSES = "status=actual&status=exercise&status=test";

export class LiveFeed {
  /**
   * @param onReset (alerts: alert_doc[], logId) the whole open-alert set was replaced
   * @param onEvent (event_doc) one event applied, in log order
   * @param onState ("connecting" | "live" | "reconnecting" | "polling")
   */
  constructor({ onReset, onEvent, onState, streamUrl = "/api/v1/stream?drills=true" }) {
    this.onReset = onReset;
    this.onEvent = onEvent;
    this.onState = onState;
    this.streamUrl = streamUrl;
    this.logId = -1;
    this.pending = [];
    this.catching = null;
    this.source = null;
    this.everOpened = false;
    this.lostConnection = false;
  }

  start() {
    this.onState("connecting");
    this.open();
  }

  open() {
    const source = new EventSource(this.streamUrl);
    this.source = source;
    source.addEventListener("snapshot", (e) => this.snapshot(JSON.parse(e.data)));
    source.addEventListener("alert", (e) => this.accept(JSON.parse(e.data)));
    source.addEventListener("open", () => {
      this.everOpened = true;
      this.onState("live");
      if (this.lostConnection && this.logId >= 0) this.catchUp();
      this.lostConnection = false;
    });
    source.addEventListener("error", () => {
      this.lostConnection = true;
      if (source.readyState === EventSource.CLOSED) {
        // The browser gives up only on an HTTP error; try again ourselves, gently.
        source.close();
        if (!this.everOpened) {
          this.poll();
          return;
        }
        this.onState("reconnecting");
        setTimeout(() => this.open(), 2000);
        return;
      }
      this.onState("reconnecting");
    });
  }

  snapshot(doc) {
    this.logId = doc.log_id;
    this.pending = this.pending.filter((e) => e.id > this.logId);
    this.onReset(doc.open_alerts ?? doc.alerts ?? [], doc.log_id);
    this.drain();
  }

  accept(event) {
    if (event.id <= this.logId) return;
    if (this.logId < 0 || this.catching || event.id !== this.logId + 1) {
      this.pending.push(event);
      if (this.logId >= 0) this.catchUp();
      return;
    }
    this.apply(event);
  }

  apply(event) {
    this.logId = event.id;
    this.onEvent(event);
  }

  drain() {
    this.pending.sort((a, b) => a.id - b.id);
    while (this.pending.length && this.pending[0].id <= this.logId + 1) {
      const event = this.pending.shift();
      if (event.id === this.logId + 1) this.apply(event);
    }
    if (this.pending.length) this.catchUp();
  }

  /** Fill the gap up to the hub's head from the log; one at a time. */
  catchUp() {
    if (this.catching) return this.catching;
    this.catching = (async () => {
      try {
        for (;;) {
          const page = await getJson(`/api/v1/log?after=${this.logId}&limit=${LOG_PAGE}`);
          if (page.last_event_id - this.logId > RESET_OVER) {
            await this.reset();
            continue;
          }
          for (const event of page.events) if (event.id === this.logId + 1) this.apply(event);
          if (page.events.length < LOG_PAGE) break;
        }
      } catch (err) {
        console.warn("catching up from the log failed; retrying", err);
        await new Promise((r) => setTimeout(r, 2000));
        this.catching = null;
        return this.catchUp();
      }
      this.catching = null;
      this.drain();
    })();
    return this.catching;
  }

  async reset() {
    const doc = await getJson(`/api/v1/alerts/active?${ALL_STATUSES}`);
    this.logId = doc.log_id;
    this.onReset(doc.alerts, doc.log_id);
  }

  /** Without a stream endpoint (an older hub) the map still works, a little later. */
  async poll() {
    this.onState("polling");
    if (this.logId < 0) await this.reset();
    for (;;) {
      try {
        await this.catchUp();
        this.onState("polling");
      } catch {
        this.onState("reconnecting");
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

export async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try {
      message = (await response.json()).error.message;
    } catch {
      /* not JSON */
    }
    const err = new Error(message);
    err.status = response.status;
    throw err;
  }
  return response.json();
}
