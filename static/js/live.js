// Live updates: every element with data-live-url opens a websocket to that path and turns
// each outbox event into a DOM event on <body>, "evolab:<type>" with the event as detail,
// so a panel can declare hx-trigger="evolab:run.progress from:body" and re-fetch itself.
// Events say what changed, never content: the panel's own authorised GET does the rest.
(() => {
  "use strict";
  if (window.evolabLive) return; // the include may appear more than once on a page
  window.evolabLive = true;

  const THROTTLE_MS = 500;
  const FIRST_RETRY_MS = 500;
  const MAX_RETRY_MS = 30000;
  const CLOSE_FORBIDDEN = 4403;

  // --- Dispatch, throttled per (type, object): the first event fires at once; later ones
  // inside the window collapse into one trailing trigger carrying the latest event, so the
  // final state always renders and two runs' progress never hide each other.
  const windows = new Map();

  function fire(event) {
    const name = "evolab:" + event.type;
    if (window.htmx) {
      window.htmx.trigger(document.body, name, event);
    } else {
      document.body.dispatchEvent(new CustomEvent(name, { detail: event, bubbles: true }));
    }
  }

  function dispatch(event) {
    const key = [event.type, event.object_type, event.object_id].join("\u0000");
    const open = windows.get(key);
    if (open) {
      open.pending = event;
      return;
    }
    fire(event);
    const slot = { pending: null };
    windows.set(key, slot);
    const close = () => {
      if (slot.pending) {
        const latest = slot.pending;
        slot.pending = null;
        fire(latest);
        setTimeout(close, THROTTLE_MS);
      } else {
        windows.delete(key);
      }
    };
    setTimeout(close, THROTTLE_MS);
  }

  // --- The last id seen, per socket path: in memory, and in sessionStorage for a page
  // rendered without a cursor. A rendered data-live-after wins: it matches the page's state.
  function storageKey(path) {
    return "evolab.live.after:" + path;
  }

  function readStored(path) {
    try {
      const value = Number.parseInt(window.sessionStorage.getItem(storageKey(path)), 10);
      return Number.isFinite(value) ? value : null;
    } catch {
      return null; // storage disabled: memory alone still covers reconnects
    }
  }

  function store(path, id) {
    try {
      window.sessionStorage.setItem(storageKey(path), String(id));
    } catch {
      // storage full or disabled: nothing to do
    }
  }

  // --- One socket per element, reconnecting with jittered exponential backoff.
  function bind(element) {
    if (element.dataset.liveBound) return;
    element.dataset.liveBound = "1";
    const path = element.dataset.liveUrl;
    const status = element.querySelector("[data-live-status]");
    const rendered = Number.parseInt(element.dataset.liveAfter, 10);
    let last = Number.isFinite(rendered) ? rendered : readStored(path);
    let attempt = 0;
    let socket = null;
    let retry = null;
    let stopped = false;

    function show(text, state) {
      if (!status) return;
      status.textContent = text;
      status.dataset.state = state;
    }

    function open() {
      retry = null;
      if (!element.isConnected) return; // swapped out of the page: stop for good
      const url = new URL(path, window.location.href);
      url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
      if (last !== null) url.searchParams.set("after", String(last));
      socket = new WebSocket(url.href);
      socket.addEventListener("open", () => {
        attempt = 0;
        show("live", "live");
      });
      socket.addEventListener("message", (message) => {
        let frame;
        try {
          frame = JSON.parse(message.data);
        } catch {
          return;
        }
        for (const event of frame.events || []) {
          // Ids can arrive below the highest seen (a transaction committed late): still
          // dispatch them; only the high-water mark is kept for reconnecting.
          if (last === null || event.id > last) last = event.id;
          dispatch(event);
        }
        if (last !== null) store(path, last);
      });
      socket.addEventListener("close", (closed) => {
        socket = null;
        if (stopped) return;
        if (closed.code === CLOSE_FORBIDDEN) {
          show("offline: reload the page", "offline");
          return;
        }
        show("reconnecting…", "reconnecting");
        const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt) * (0.5 + Math.random() / 2);
        attempt += 1;
        retry = window.setTimeout(open, delay);
      });
    }

    // Leaving the page closes the socket; coming back from the back/forward cache reopens
    // it with the id kept in memory, so the restored page catches up.
    window.addEventListener("pagehide", () => {
      stopped = true;
      if (retry !== null) window.clearTimeout(retry);
      if (socket) socket.close();
    });
    window.addEventListener("pageshow", (shown) => {
      if (!shown.persisted) return;
      stopped = false;
      attempt = 0;
      open();
    });
    open();
  }

  function bindAll(root) {
    const scope = root && root.querySelectorAll ? root : document;
    if (scope.matches && scope.matches("[data-live-url]")) bind(scope);
    scope.querySelectorAll("[data-live-url]").forEach(bind);
  }

  bindAll(document);
  if (window.htmx) window.htmx.onLoad(bindAll); // an element swapped in later subscribes too
})();
