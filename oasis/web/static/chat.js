// OASIS web chat client: one WebSocket to /ws/chat, reconnecting on its own.
//
// Every outgoing message keeps its id until the server acknowledges it; after a reconnect
// the unacknowledged ones are sent again with the same ids (the server does not act on an
// id twice), acknowledged ones never are. Reconnects back off exponentially with full
// jitter, capped at 30 s, so a restarted server is not hit by every browser at once.
(function () {
  "use strict";

  const BASE_DELAY_MS = 500;
  const MAX_DELAY_MS = 30000;
  const PING_EVERY_MS = 25000;  // keeps proxies from closing an idle socket
  const STORAGE_KEY = "oasis.chat.conversation";

  const log = document.getElementById("log");
  const statusEl = document.getElementById("status");
  const form = document.getElementById("form");
  const input = document.getElementById("text");

  const unacked = new Map();  // id -> message, in send order
  const bubbles = new Map();  // id -> element of a message still pending
  let socket = null;
  let attempt = 0;
  let conversationId = localStorage.getItem(STORAGE_KEY);
  let welcomed = false;
  let pinger = null;

  function newId() {
    return (crypto.randomUUID ? crypto.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2));
  }

  function nowIso() {
    return new Date().toISOString();  // UTC, ends with Z
  }

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text || state;
  }

  function backoffMs(n) {
    // Full jitter: uniform in [0, min(cap, base * 2^n)].
    return Math.random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * Math.pow(2, n));
  }

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + location.host + "/ws/chat";
  }

  function connect() {
    setStatus("connecting");
    welcomed = false;
    socket = new WebSocket(socketUrl());
    socket.onopen = function () {
      attempt = 0;
      socket.send(JSON.stringify({type: "hello", id: newId(), ts: nowIso(),
                                  conversation_id: conversationId}));
    };
    socket.onmessage = function (event) {
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      receive(message);
    };
    socket.onclose = function (event) {
      clearInterval(pinger);
      if (event.code === 1008) {
        setStatus("offline", "offline: log in to chat");
        return;  // refused: retrying would only be refused again
      }
      scheduleReconnect();
    };
    socket.onerror = function () { /* onclose follows and reconnects */ };
  }

  function scheduleReconnect() {
    const delay = backoffMs(attempt++);
    let left = Math.ceil(delay / 1000);
    setStatus("offline", "offline, retrying in " + left + " s");
    const countdown = setInterval(function () {
      left -= 1;
      if (left > 0) setStatus("offline", "offline, retrying in " + left + " s");
    }, 1000);
    setTimeout(function () { clearInterval(countdown); connect(); }, delay);
  }

  function transmit(message) {
    unacked.set(message.id, message);
    if (socket && socket.readyState === WebSocket.OPEN && welcomed) {
      socket.send(JSON.stringify(message));
    }  // otherwise it goes out after the next welcome
  }

  function resendUnacked() {
    unacked.forEach(function (message) { socket.send(JSON.stringify(message)); });
  }

  function receive(message) {
    switch (message.type) {
      case "welcome":
        welcomed = true;
        setStatus("online");
        if (message.conversation_id !== conversationId) {
          conversationId = message.conversation_id;
          localStorage.setItem(STORAGE_KEY, conversationId);
          log.textContent = "";
        }
        if (!log.childElementCount) {
          message.history.forEach(renderHistory);
        } else {
          // Answers that were sent while the connection was dropping.
          message.history.forEach(function (m) {
            if (m.direction === "out" && m.type === "answer" && !bubbles.has("answer:" + m.of)) {
              bubbles.set("answer:" + m.of, renderAnswer(m));
            }
          });
        }
        resendUnacked();
        clearInterval(pinger);
        pinger = setInterval(function () {
          if (socket.readyState !== WebSocket.OPEN) return;
          socket.send(JSON.stringify({type: "ping", id: newId(), ts: nowIso()}));
        }, PING_EVERY_MS);
        break;
      case "ack":
        unacked.delete(message.of);
        if (bubbles.has(message.of)) bubbles.get(message.of).classList.remove("pending");
        break;
      case "answer":
        if (!bubbles.has("answer:" + message.of)) {
          bubbles.set("answer:" + message.of, renderAnswer(message));
        }
        break;
      case "error":
        renderText("out error", message.message);
        break;
      default:
        break;  // pong, and types a newer server may add
    }
  }

  function renderText(kind, text) {
    const div = document.createElement("div");
    div.className = "msg " + kind;
    div.textContent = text;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function renderAnswer(message) {
    const div = renderText("out", message.text);
    const sources = message.citations || [];
    if (sources.length) {
      const list = document.createElement("ol");
      list.className = "sources";
      sources.forEach(function (c) {
        const item = document.createElement("li");
        item.textContent = (c.title || c.source) + (c.heading ? " — " + c.heading : "") +
          " (" + c.source + ")";
        item.title = c.snippet || "";
        list.appendChild(item);
      });
      div.appendChild(list);
    }
    if (message.tickets && message.tickets.length) {
      const tickets = document.createElement("div");
      tickets.className = "sources";
      tickets.textContent = "Tickets: " + message.tickets.join(", ");
      div.appendChild(tickets);
    }
    log.scrollTop = log.scrollHeight;  // again: the sources made the answer taller
    return div;
  }

  function renderHistory(message) {
    if (message.direction === "in") {
      if (message.type === "ask") renderText("in", message.text);
      else if (message.type === "approve") {
        renderText("in", "approve " + message.action_id + " on " + message.incident_id);
      }
    } else if (message.type === "answer") {
      bubbles.set("answer:" + message.of, renderAnswer(message));
    } else if (message.type === "error") {
      renderText("out error", message.message);
    }
  }

  // "approve <incident> <action>" approves from chat; anything else is asked.
  function send(text) {
    const id = newId();
    const approve = /^approve\s+(\S+)\s+(\S+)\s*$/i.exec(text);
    const message = approve
      ? {type: "approve", id: id, ts: nowIso(), incident_id: approve[1], action_id: approve[2]}
      : {type: "ask", id: id, ts: nowIso(), text: text};
    const bubble = renderText("in pending", text);
    bubbles.set(id, bubble);
    transmit(message);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });

  connect();
})();
